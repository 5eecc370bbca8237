"""transform: vocab rules, the Beam DoFns on a handful of translation pairs, and an end-to-end run."""

import json
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline as beam_test_pipeline
from apache_beam.testing.util import assert_that, equal_to

import components.example_gen as example_gen
import components.transform as transform
from serving import schema
from components.registry import get_task
from components.transform.task_fns import (
    CountVocabFn, EncodeBatchFn, PreTokenizeBatchFn, parse_task_example, row_tokens,
)
from components.transform.task_graph import build_task_vocabularies
from components.transform.vocab import build_vocabulary
from pipeline.config import TransformConfig, load_config
from components.step import StepContext
from serving.text_processor import TextProcessor, TokenizerSpec, normalize

RESERVED = list(schema.RESERVED_TOKENS)
CHAR = TokenizerSpec(kind="char").to_dict()


def local_pipeline() -> beam_test_pipeline.TestPipeline:
    """A TestPipeline on the in-process FnApiRunner (DirectRunner may try to fetch Prism offline)."""
    return beam_test_pipeline.TestPipeline(runner=FnApiRunner())


def test_vocabulary_order_cap_and_min_count():
    counts = [("b", 3), ("a", 3), ("c", 9), ("rare", 1), ("[UNK]", 50)]
    assert build_vocabulary(counts, max_size=100, min_count=2) == RESERVED + ["c", "a", "b"]
    assert build_vocabulary(counts, max_size=6, min_count=1) == RESERVED + ["c", "a"]  # max_size < 4: test_config


def test_pretokenize_batch_fn():
    with local_pipeline() as p:
        rows = (
            p
            | beam.Create([[{"source": "Mar 3", "target": "03"}, {"source": "A  B", "target": "x y"}]])
            | beam.ParDo(PreTokenizeBatchFn(CHAR, get_task("translation").text_fields))
            | beam.FlatMap(lambda b: zip([r["source"] for r in b["raw"]], row_tokens(b, "source"),
                                         row_tokens(b, "target")))
            | beam.Map(lambda r: (r[0], tuple(r[1]), tuple(r[2])))
        )
        assert_that(rows, equal_to([
            ("Mar 3", (b"m", b"a", b"r", b" ", b"3"), (b"0", b"3")),
            ("A  B", (b"a", b" ", b"b"), (b"x", b" ", b"y")),
        ]))


def test_count_and_vocab_transforms():
    batches = [
        {"raw": [{}], "counts": {"source": [[b"a", b"b"], [2, 1]], "target": [[b"1"], [1]]}},
        {"raw": [{}], "counts": {"source": [[b"b", b"a"], [1, 1]], "target": [[b"2", b"1"], [1, 1]]}},
    ]
    with local_pipeline() as p:
        counts = p | beam.Create(batches) | beam.CombineGlobally(CountVocabFn(())) | beam.FlatMap(lambda c: c)
        assert_that(counts, equal_to([
            (("source", "a"), 3), (("source", "b"), 2), (("target", "1"), 2), (("target", "2"), 1),
        ]), label="counts")
        config = TransformConfig(max_vocab_size=10, min_count=1)
        vocab = counts | beam.combiners.ToList() | beam.Map(build_task_vocabularies, get_task("translation").text_fields, (), config, "char")
        assert_that(vocab, equal_to([{"source": RESERVED + ["a", "b"], "target": RESERVED + ["1", "2"]}]),
                    label="vocab")


def test_encode_fn_truncates_and_appends_end():
    vocab = {"source": RESERVED + ["a", "b"], "target": RESERVED + ["1"]}
    batch = {"raw": [{"source": "abz", "target": "111"}],
             "tokens": {"source": [[b"a", b"b", b"z"], [3]], "target": [[b"1", b"1", b"1"], [3]]}}

    def encoded(p, max_source_length, max_target_length):
        fn = EncodeBatchFn(get_task("translation").text_fields, (), {"max_source_length": max_source_length,
                                                             "max_target_length": max_target_length})
        side = p | "Vocab" >> beam.Create([json.dumps(vocab)])
        return p | "Batches" >> beam.Create([batch]) | beam.ParDo(fn, beam.pvalue.AsSingleton(side))

    def decoded(e):
        [example], (n, tokens, oov, unseen) = e
        feature = tf.train.Example.FromString(example).features.feature
        return (list(feature[schema.SOURCE_IDS].int64_list.value), list(feature[schema.TARGET_IDS].int64_list.value),
                parse_task_example(example, get_task("translation").raw_features), n, tokens, oov)

    with local_pipeline() as p:
        assert_that(encoded(p, 2, 3) | beam.Map(decoded), equal_to([
            ([4, 5], [4, 4, schema.END_ID], {"source": "abz", "target": "111"}, 1, 4, 0)]))
    with local_pipeline() as p:
        assert_that(encoded(p, 10, 10) | beam.Map(lambda e: e[1][2]), equal_to([1]))
    with pytest.raises(ValueError, match="max_target_length"):
        EncodeBatchFn(get_task("translation").text_fields, (), {"max_source_length": 10, "max_target_length": 1})


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("run")
    cfg = load_config(None, ["data.source=builtin:dates?n=300", "transform.num_shards=2"])
    raw, encoded = root / "example_gen", root / "transform"
    raw.mkdir()
    encoded.mkdir()
    example_gen.run(StepContext(cfg, {}, raw, root))
    outputs = transform.run(StepContext(cfg, {"example_gen": raw}, encoded, root))
    return raw, encoded, outputs


def read_encoded(artifact: Path, split: str) -> list[dict]:
    files = tf.io.gfile.glob(schema.split_glob(artifact, split))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        f = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append({
            "source": f["source"].bytes_list.value[0].decode(), "target": f["target"].bytes_list.value[0].decode(),
            "source_ids": list(f["source_ids"].int64_list.value), "target_ids": list(f["target_ids"].int64_list.value),
        })
    return rows


def test_end_to_end_manifest_and_vocab(artifacts):
    raw, encoded, outputs = artifacts
    manifest = json.loads((encoded / "manifest.json").read_text())
    assert set(manifest) == {"task", "tokenizer", "vocab", "reserved", "features", "max_source_length",
                             "max_target_length", "splits", "fingerprint"}
    assert manifest["reserved"] == {"[PAD]": 0, "[UNK]": 1, "[START]": 2, "[END]": 3}
    assert manifest["tokenizer"] == {"kind": "char", "lowercase": True, "normalization": "NFKC"}
    raw_counts = json.loads((raw / "counts.json").read_text())
    assert outputs["counts"] == {s: raw_counts[s] for s in schema.SPLITS}
    assert {s: manifest["splits"][s]["count"] for s in schema.SPLITS} == outputs["counts"]
    assert manifest["splits"]["train"]["oov_rate"] == 0.0
    assert manifest["splits"]["train"]["pattern"] == "train/data-*.tfrecord.gz"
    for side in ("source", "target"):
        tokens = schema.read_vocab_file(encoded / manifest["vocab"][side]["file"])
        assert tokens[:4] == RESERVED and len(tokens) == manifest["vocab"][side]["size"]
        assert len(set(tokens)) == len(tokens)
    assert " " in schema.read_vocab_file(encoded / "vocab/source.txt")
    assert set(schema.read_vocab_file(encoded / "vocab/target.txt")[4:]) == set("0123456789-")
    assert len(tf.io.gfile.glob(schema.split_glob(encoded, "train"))) == 2


def test_end_to_end_records_decode_back(artifacts):
    raw, encoded, _ = artifacts
    source_proc = TextProcessor.from_manifest(encoded, "source")
    target_proc = TextProcessor.from_manifest(encoded, "target")
    spec = source_proc.spec
    for split in schema.SPLITS:
        rows = read_encoded(encoded, split)
        assert sorted((r["source"], r["target"]) for r in rows) == sorted(
            (s, t) for s, t in _read_raw(raw, split))
        for r in rows[:50]:
            assert r["target_ids"][-1] == schema.END_ID
            assert r["source_ids"] == source_proc.encode(tf.constant([r["source"]])).to_list()[0]
            got = target_proc.decode(tf.constant([r["target_ids"]])).numpy()[0].decode()
            assert got == r["target"]
            got = source_proc.decode(tf.constant([r["source_ids"]])).numpy()[0].decode()
            if split == "train":
                assert got == normalize(tf.constant([r["source"]]), spec).numpy()[0].decode()


def _read_raw(artifact: Path, split: str) -> list[tuple[str, str]]:
    files = tf.io.gfile.glob(schema.split_glob(artifact, split))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        raw = parse_task_example(record.numpy(), get_task("translation").raw_features)
        out.append((raw["source"], raw["target"]))
    return out


def test_missing_upstream_is_a_clear_error(tmp_path):
    cfg = load_config(None, [])
    with pytest.raises(ValueError, match="needs the 'example_gen' artifact"):
        transform.run(StepContext(cfg, {}, tmp_path, tmp_path))
