"""example_gen's in-job read of file sources writes what the launcher-side read writes.

Each case generates files with good and bad rows (globs, .gz, an eval source),
runs `example_gen._read_in_beam` (what `run` does for file sources) and
`example_gen._read_in_launcher` (the old path: read here, stage, copy) on the
same config, and compares the counts, the first dead letters (what the
bad-fraction error shows), the records per split (as multisets), the shard
file names (the small parts of several files are concatenated into one shard)
and the dead letters (as multisets).
"""

import collections
import gzip
import json
from pathlib import Path

import pytest
import tensorflow as tf

import components.example_gen as example_gen
from components.step import StepContext
from pipeline.config import load_config
from serving import schema


def write(path: Path, text: str) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def classification(tmp: Path) -> list[str]:
    rows = [json.dumps({"text": f"review {i} " + "good " * (i % 5), "label": "pos" if i % 3 else "neg"})
            for i in range(60)]
    rows[7], rows[21], rows[45] = "{not json", json.dumps({"text": "", "label": "pos"}), "42"  # 4 with dev.csv
    write(tmp / "a.jsonl.gz", "\n".join(rows[:30]) + "\n")
    write(tmp / "b.jsonl.gz", "\n".join(rows[30:]) + "\n\n")
    dev = "text,label\n" + "".join(f"dev {i},pos\n" for i in range(9)) + "broken,row,here\n"
    return ["task=classification", f"data.source={tmp}/*.jsonl.gz", f"data.eval_source={write(tmp / 'dev.csv', dev)}",
            "data.test_fraction=0.3", "data.max_bad_fraction=0.5"]


def tagging(tmp: Path) -> list[str]:
    blocks = [f"w{i} NN O\nx{i} NN B-PER" for i in range(40)]
    blocks[5] = "bad NN\nrow NN O"
    return ["task=tagging", f"data.source={write(tmp / 'train.conll', (chr(10) * 2).join(blocks) + chr(10))}",
            "data.format=conll", "transform.tokenizer=word", "data.eval_fraction=0.3", "data.max_bad_fraction=0.5"]


def parallel(tmp: Path) -> list[str]:
    src = "".join(f"quelle {i}\n" for i in range(25)) + "\n"
    tgt = "".join(f"source {i}\n" for i in range(25)) + "lonely\n"
    return [f"data.source={write(tmp / 'train.de.gz', src)}", f"data.target_source={write(tmp / 'train.en', tgt)}",
            f"data.eval_source={write(tmp / 'val.de', 'wert 1' + chr(10))}",
            f"data.eval_target_source={write(tmp / 'val.en', 'value 1' + chr(10))}",
            "data.format=parallel", "data.max_bad_fraction=0.5"]


def artifact(out: Path) -> dict:
    """Records per split (multisets of serialized examples), shard names, counts.json, dead letters (multiset)."""
    got = {split: collections.Counter(r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(schema.split_glob(out, split)), "GZIP")) for split in schema.SPLITS}
    got["shards"] = sorted(p.relative_to(out).as_posix() for p in out.glob("*/data-*"))
    got["dead"] = collections.Counter(line for p in (out / schema.DEAD_LETTER_DIR).iterdir()
                                      for line in p.read_text().splitlines())
    got["counts"] = json.loads((out / "counts.json").read_text())
    return got


@pytest.mark.parametrize("case", [classification, tagging, parallel])
def test_read_in_beam_matches_the_launcher_read(tmp_path, case):
    config = load_config(None, case(tmp_path))
    beam_out, launcher_out = tmp_path / "beam", tmp_path / "launcher"
    beam_out.mkdir()
    launcher_out.mkdir()
    eval_data = example_gen.eval_config(config.data)
    in_beam = example_gen._read_in_beam(StepContext(config, {}, beam_out, tmp_path), eval_data)
    launcher = example_gen._read_in_launcher(StepContext(config, {}, launcher_out, tmp_path), eval_data)
    assert in_beam == launcher  # counts, dead letters, records, the first three dead letters in read order
    for out, (counts, *_) in ((beam_out, in_beam), (launcher_out, launcher)):
        (out / "counts.json").write_text(json.dumps(counts, indent=2, sort_keys=True))
    assert artifact(beam_out) == artifact(launcher_out)
    assert in_beam[1] > 0 and all(len(artifact(beam_out)[split]) for split in ("train", "eval"))
    assert not (beam_out / "_summary.json").exists() and not (beam_out / "_parts").exists()
    for split in ("train", "eval", "test"):  # N parts named 0..N-1 of N; an empty split has one empty shard
        names = sorted(p.name for p in (beam_out / split).iterdir())
        assert names == [f"data-{i:05d}-of-{len(names):05d}.tfrecord.gz" for i in range(len(names))]


def test_a_reader_error_is_one_line_after_the_job(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,2\n")
    ctx = StepContext(load_config(None, ["task=classification", f"data.source={path}"]), {}, tmp_path / "o", tmp_path)
    ctx.output_dir.mkdir()
    with pytest.raises(ValueError, match=r"^Fields \['text', 'label'\] are not columns of .*t.csv. Header"):
        example_gen.run(ctx)


def test_a_file_writes_a_new_part_every_shard_size_records(tmp_path, monkeypatch):
    from components.example_gen import beam_read

    monkeypatch.setattr(beam_read, "SHARD_SIZE", 10)  # the in-process runner runs the DoFn in this process
    config = load_config(None, tagging(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    counts = example_gen.run(StepContext(config, {}, out, tmp_path))["counts"]
    for split in schema.SPLITS:
        shards = sorted((out / split).iterdir())
        sizes = [sum(1 for _ in tf.data.TFRecordDataset(str(p), "GZIP")) for p in shards]
        assert len(shards) == max(1, -(-counts[split] // 10)) and sum(sizes) == counts[split]
        assert all(size <= 10 for size in sizes)


def test_small_parts_are_grouped_into_shards_in_read_order(monkeypatch):
    from components.example_gen import beam_read

    monkeypatch.setattr(beam_read, "SHARD_SIZE", 10)
    parts = [("train", (0, f"f{i}", 0), f"p{i}", n) for i, n in enumerate([3, 4, 10, 2, 9, 1])]
    assert beam_read.shard_groups(parts[::-1]) == [["p0", "p1"], ["p2"], ["p3"], ["p4", "p5"]]
    assert beam_read.shard_groups([]) == []
