"""example_gen: splits, file readers, dead letters, and the Beam run."""

import collections
import gzip
import json
from pathlib import Path

import pytest
import tensorflow as tf

import components.example_gen as example_gen
from components import source_uri
from serving import schema
from components.example_gen import parallel
from components.example_gen.split import split_for
from pipeline.config import load_config
from components.step import StepContext


def read_raw(artifact: Path, split: str) -> list[tuple[str, str]]:
    files = tf.io.gfile.glob(schema.split_glob(artifact, split))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        f = tf.train.Example.FromString(record.numpy()).features.feature
        out.append((f["source"].bytes_list.value[0].decode(), f["target"].bytes_list.value[0].decode()))
    return out


def make_ctx(tmp_path: Path, overrides: list[str]) -> StepContext:
    out = tmp_path / "example_gen"
    out.mkdir()
    return StepContext(config=load_config(None, overrides), inputs={}, output_dir=out, root=tmp_path)


def test_split_is_deterministic_and_roughly_proportional():
    keys = [f"key {i}" for i in range(20000)]
    first = [split_for(k, 0.1, 0.2) for k in keys]
    assert first == [split_for(k, 0.1, 0.2) for k in keys]
    counts = collections.Counter(first)
    assert abs(counts["eval"] / len(keys) - 0.1) < 0.015
    assert abs(counts["test"] / len(keys) - 0.2) < 0.015
    assert {split_for(k, 0.0, 0.0) for k in keys[:100]} == {"train"}


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="eval_fraction=0.6, test_fraction=0.5"):
        split_for("x", 0.6, 0.5)


def test_aligned_files(tmp_path):
    (tmp_path / "src.txt").write_text("one\ntwo\nthree\n")
    with gzip.open(tmp_path / "tgt.txt.gz", "wt") as f:
        f.write("eins\nzwei\ndrei\n")
    records, dead = parallel.read_parallel(str(tmp_path / "src.txt"), str(tmp_path / "tgt.txt.gz"), task="translation")
    assert records == [{"source": s, "target": t} for s, t in [("one", "eins"), ("two", "zwei"), ("three", "drei")]]
    assert dead == []


def test_aligned_line_count_mismatch_names_files_and_counts(tmp_path):
    (tmp_path / "src.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "tgt.txt").write_text("eins\nzwei\n")
    with pytest.raises(ValueError) as info:
        parallel.read_parallel(str(tmp_path / "src.txt"), str(tmp_path / "tgt.txt"), task="translation")
    message = str(info.value)
    assert "src.txt has 3 lines" in message and "tgt.txt has 2 lines" in message


def test_malformed_tsv_rows_are_dead_lettered_with_locations(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"good\tgut\nno tab here\na\tb\tc\n\tleer\nempty target\t \nbad \xff bytes\tx\nfine\tok\n")
    records, dead = parallel.read_parallel(str(path), task="translation")
    assert records == [{"source": "good", "target": "gut"}, {"source": "fine", "target": "ok"}]
    by_line = {d["location"]: d["reason"] for d in dead}
    assert by_line == {
        f"{path}:2": "expected 2 tab-separated columns, got 1",
        f"{path}:3": "expected 2 tab-separated columns, got 3",
        f"{path}:4": "empty source",
        f"{path}:5": "empty target",
        f"{path}:6": "undecodable bytes (not UTF-8)",
    }
    assert dead[-1]["raw"] == "bad \\xff bytes\tx"


def test_unknown_builtin_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown builtin source 'numbers'. Available: \[.*'dates'.*\]"):
        source_uri.parse_builtin("builtin:numbers?n=3", 10, 1)


def test_builtin_query_overrides_config():
    assert source_uri.parse_builtin("builtin:dates?n=500&seed=7", 10, 1) == ("dates", 500, 7)
    assert source_uri.parse_builtin("builtin:dates", 10, 1) == ("dates", 10, 1)


def test_run_writes_splits_counts_and_empty_dead_letter(tmp_path):
    ctx = make_ctx(tmp_path, ["data.source=builtin:dates?n=200&seed=3", "data.eval_fraction=0.2"])
    outputs = example_gen.run(ctx)
    counts = json.loads((ctx.output_dir / "counts.json").read_text())
    assert outputs == {"counts": counts, "dead_letter": 0}
    assert sum(counts[s] for s in schema.SPLITS) == 200
    written = {s: read_raw(ctx.output_dir, s) for s in schema.SPLITS}
    assert {s: len(v) for s, v in written.items()} == {s: counts[s] for s in schema.SPLITS}
    from components.example_gen.dates import generate_dates
    expected = generate_dates(200, 3)
    assert sorted(sum(written.values(), [])) == sorted(expected)
    assert set(counts) == {*schema.SPLITS, "dead_letter"}  # translation: no token/character counts
    for split, rows in written.items():
        assert all(split_for(src, 0.2, 0.1) == split for src, _ in rows)
    assert json.dumps(outputs)  # serializable


def test_run_dead_letters_and_bad_fraction(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"src {i}\ttgt {i}\n" for i in range(20)) + "broken row\n")
    ok = make_ctx(tmp_path, [f"data.source={path}", "data.max_bad_fraction=0.1"])
    outputs = example_gen.run(ok)
    assert outputs["dead_letter"] == 1
    assert outputs["counts"]["dead_letter"] == {"expected 2 tab-separated columns, got 1": 1}
    lines = [
        json.loads(line) for f in (ok.output_dir / schema.DEAD_LETTER_DIR).iterdir() for line in f.read_text().splitlines()
    ]
    assert lines == [{"reason": "expected 2 tab-separated columns, got 1", "location": f"{path}:21", "raw": "broken row"}]

    strict = StepContext(load_config(None, [f"data.source={path}", "data.max_bad_fraction=0.01"]), {},
                         tmp_path / "strict", tmp_path)
    strict.output_dir.mkdir()
    with pytest.raises(ValueError, match=r"1 of 21 rows .* data.max_bad_fraction=0.01"):
        example_gen.run(strict)


def test_100_good_rows_and_3_malformed(tmp_path):
    rows = [json.dumps({"text": f"review number {i}", "label": "pos" if i % 2 else "neg"}) for i in range(100)]
    rows.insert(10, "{broken json")
    rows.insert(50, json.dumps({"text": "no label here"}))
    rows.insert(90, json.dumps({"text": "", "label": "pos"}))
    path = tmp_path / "reviews.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")
    base = ["task=classification", f"data.source={path}", "data.max_bad_fraction=0.05"]
    ok = make_ctx(tmp_path, base)
    outputs = example_gen.run(ok)
    assert sum(outputs["counts"][s] for s in schema.SPLITS) == 100 and outputs["dead_letter"] == 3
    assert outputs["counts"]["dead_letter"] == {"invalid JSON": 1, "missing label": 1, "empty text": 1}
    lines = [json.loads(line) for f in (ok.output_dir / schema.DEAD_LETTER_DIR).iterdir()
             for line in f.read_text().splitlines()]
    assert {d["location"]: d["reason"] for d in lines} == {
        f"{path}:11": "invalid JSON", f"{path}:51": "missing label", f"{path}:91": "empty text"}

    strict = StepContext(load_config(None, base + ["data.max_bad_fraction=0.01"]), {}, tmp_path / "strict", tmp_path)
    strict.output_dir.mkdir()
    with pytest.raises(ValueError, match=r"3 of 103 rows .* data.max_bad_fraction=0.01"):
        example_gen.run(strict)


def read_features(artifact: Path, split: str) -> list[dict]:
    files = tf.io.gfile.glob(schema.split_glob(artifact, split))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        f = tf.train.Example.FromString(record.numpy()).features.feature
        out.append({k: [v.decode() for v in f[k].bytes_list.value] for k in f})
    return out


def test_run_tagging_writes_lists_and_token_counts(tmp_path):
    path = tmp_path / "train.conll"
    sentences = [[(f"w{i}", "O"), (f"x{i}", "B-PER")] for i in range(30)]
    path.write_text("\n\n".join("\n".join(f"{w} NN {t}" for w, t in s) for s in sentences) + "\n")
    ctx = make_ctx(tmp_path, ["task=tagging", "transform.tokenizer=word", f"data.source={path}", "data.eval_fraction=0.3"])
    outputs = example_gen.run(ctx)
    counts = outputs["counts"]
    assert sum(counts[s] for s in schema.SPLITS) == 30
    assert counts["tokens"] == {s: 2 * counts[s] for s in schema.SPLITS}
    train = read_features(ctx.output_dir, "train")
    assert len(train) == counts["train"]
    assert all(len(r["tokens"]) == 2 and r["tags"] == ["O", "B-PER"] for r in train)
    for split in schema.SPLITS:
        assert all(split_for(" ".join(r["tokens"]), 0.3, 0.1) == split for r in read_features(ctx.output_dir, split))


def test_run_language_model_counts_characters(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("".join(f"line {i}\n" for i in range(50)))
    ctx = make_ctx(tmp_path, ["task=language_model", f"data.source={path}"])
    counts = example_gen.run(ctx)["counts"]
    assert sum(counts["characters"].values()) == sum(len(f"line {i}") for i in range(50))
    assert read_features(ctx.output_dir, "train")[0].keys() == {"text"}


def test_eval_source_feeds_every_eval_example(tmp_path):
    train, dev = tmp_path / "train.conll", tmp_path / "dev.conll"
    train.write_text("\n\n".join(f"t{i} NN O\nu{i} NN B-PER" for i in range(40)) + "\n")
    dev.write_text("\n\n".join(f"d{i} NN B-LOC" for i in range(7)) + "\n")
    ctx = make_ctx(tmp_path, ["task=tagging", "transform.tokenizer=word", f"data.source={train}", f"data.eval_source={dev}",
                              "data.format=conll", "data.eval_fraction=0.5", "data.test_fraction=0.2"])
    counts = example_gen.run(ctx)["counts"]
    assert counts["eval"] == 7 and counts["train"] + counts["test"] == 40 and counts["test"] > 0
    assert sorted(r["tokens"][0] for r in read_features(ctx.output_dir, "eval")) == sorted(f"d{i}" for i in range(7))
    assert all(r["tokens"][0][0] in "tu" for s in ("train", "test") for r in read_features(ctx.output_dir, s))
    assert all("_split" not in r for r in read_features(ctx.output_dir, "eval"))


def test_a_parallel_eval_set_reads_its_own_target_file(tmp_path):
    files = {"train.de": [f"quelle {i}" for i in range(30)], "train.en": [f"source {i}" for i in range(30)],
             "val.de": [f"wert {i}" for i in range(5)], "val.en": [f"value {i}" for i in range(5)]}
    for name, lines in files.items():
        with gzip.open(tmp_path / f"{name}.gz", "wt", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
    ctx = make_ctx(tmp_path, [f"data.source={tmp_path}/train.de.gz", f"data.target_source={tmp_path}/train.en.gz",
                              f"data.eval_source={tmp_path}/val.de.gz", f"data.eval_target_source={tmp_path}/val.en.gz",
                              "data.format=parallel", "data.test_fraction=0", "transform.tokenizer=word"])
    counts = example_gen.run(ctx)["counts"]
    assert counts["eval"] == 5 and counts["train"] == 30 and counts["test"] == 0
    assert sorted(read_raw(ctx.output_dir, "eval")) == [(f"wert {i}", f"value {i}") for i in range(5)]
