"""Pins the translation transform on the quickstart corpus (builtin dates, 400 examples).

Translation used to run on its own path (`transform/graph.py`, `beam_fns.py`,
`trainer/input.py`). Before that path was deleted, this test ran both paths
and found byte-identical vocab files, manifest and TFRecords, and identical
trainer and evaluator batches (commits a6c90d2 and 28d70c2). What is left:
`GOLDEN` digests of the old path's outputs, the properties every encoded
example has, the trainer's teacher-forcing batches, and the evaluator's greedy
decoding equal to the export's serving function.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import components.example_gen as example_gen
import components.transform as transform
from serving import schema
from components.registry import get_task
from components.trainer.task_input import make_task_dataset
from pipeline.config import load_config
from components.step import StepContext
from serving.text_processor import TextProcessor, normalize

N = 400
# name -> the quickstart config's overrides; one shard, so record order within a split is fixed too.
VARIANTS = {
    "char": ["transform.tokenizer=char"],
    "word": ["transform.tokenizer=word"],
    "char_truncated": ["transform.tokenizer=char", "transform.max_source_length=8",
                       "transform.max_target_length=5"],
}


def config(variant: str):
    return load_config(["quickstart"], [f"data.num_examples={N}", "transform.num_shards=1", *VARIANTS[variant]])


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    raw = root / "example_gen"
    raw.mkdir()
    example_gen.run(StepContext(config("char"), {}, raw, root))
    return raw


def run_transform(raw: Path, out: Path, variant: str) -> dict:
    out.mkdir(parents=True)
    return transform.run(StepContext(config(variant), {"example_gen": raw}, out, out.parent))


def records(artifact: Path, split: str) -> list[dict]:
    """Every encoded record of a split, in file order: {feature: (kind, values)}."""
    files = sorted(tf.io.gfile.glob(schema.split_glob(artifact, split)))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append({name: (f.WhichOneof("kind"), [v.decode() if isinstance(v, bytes) else int(v)
                                                    for v in getattr(f, f.WhichOneof("kind")).value])
                     for name, f in sorted(feature.items())})
    return rows


def digest(artifact: Path) -> str:
    """sha256 of the vocab files and every split's records (order-free within a split)."""
    h = hashlib.sha256()
    for side in ("source", "target"):
        h.update(json.dumps(schema.read_vocab_file(artifact / schema.VOCAB_DIR / f"{side}.txt")).encode())
    for split in schema.SPLITS:
        h.update(json.dumps(sorted(json.dumps(r, sort_keys=True) for r in records(artifact, split))).encode())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module", params=list(VARIANTS))
def outputs(request, raw_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "transform"
    return request.param, out, run_transform(raw_dir, out, request.param)


# Digests of the outputs of the translation-only graph (graph.py, deleted after commit 28d70c2), computed
# at commit a6c90d2, where task_graph.py's outputs were checked byte-identical to them.
GOLDEN = {"char": "52038885bbe7995e", "word": "b7193fa30fdb3e1a", "char_truncated": "3aa51e2f249bf8b8"}


def test_golden_digest(outputs):
    variant, out, _ = outputs
    assert digest(out) == GOLDEN[variant]


def test_trainer_batches_teacher_forcing(outputs):
    _, out, _ = outputs
    pairs = []
    for (source, target_in), target_out in make_task_dataset(out, "translation", "train", 16, (10, 20),
                                                             training=True, seed=7):
        assert source.dtype == target_in.dtype == target_out.dtype == tf.int64
        np.testing.assert_array_equal(target_in[:, 0], schema.START_ID)
        np.testing.assert_array_equal(target_in[:, 1:], target_out[:, :-1])
        pairs += [(tuple(i for i in s if i != schema.PAD_ID), tuple(i for i in t if i != schema.PAD_ID))
                  for s, t in zip(source.numpy().tolist(), target_out.numpy().tolist())]
    expected = [(tuple(row["source_ids"][1]), tuple(row["target_ids"][1])) for row in records(out, "train")]
    assert sorted(pairs) == sorted(expected)  # every example once, its source and target together


def test_encoded_translation_properties(outputs):
    variant, out, _ = outputs
    manifest = json.loads((out / schema.MANIFEST).read_text())
    assert manifest["features"] == get_task("translation").encoded_features
    for side in ("source", "target"):
        assert schema.read_vocab_file(out / schema.VOCAB_DIR / f"{side}.txt")[:4] == list(schema.RESERVED_TOKENS)
    source, target = TextProcessor.from_manifest(out, "source"), TextProcessor.from_manifest(out, "target")
    for split in schema.SPLITS:
        rows = records(out, split)
        assert len(rows) == manifest["splits"][split]["count"]
        assert all(set(row) == {"source", "target", "source_ids", "target_ids"} for row in rows)
        assert {row["source"][0] for row in rows} == {"bytes_list"} == {row["target"][0] for row in rows}
        raw_source = tf.constant([row["source"][1][0] for row in rows])
        raw_target = tf.constant([row["target"][1][0] for row in rows])
        source_ids = [row["source_ids"][1] for row in rows]
        target_ids = [row["target_ids"][1] for row in rows]
        # the ids are what serving's TextProcessor encodes (truncated), the target then [END]
        assert source_ids == source.encode(raw_source).to_list()
        assert [ids[:-1] for ids in target_ids] == target.encode(raw_target).to_list()
        assert all(ids[-1] == schema.END_ID and schema.END_ID not in ids[:-1] for ids in target_ids)
        assert max(map(len, source_ids)) <= manifest["max_source_length"]
        assert max(map(len, target_ids)) <= manifest["max_target_length"]
        if split == "train" and variant != "char_truncated":  # decoding gives the normalized text back
            for processor, raw, ids in ((source, raw_source, source_ids), (target, raw_target, target_ids)):
                dense = tf.ragged.constant(ids, dtype=tf.int64).to_tensor()
                assert processor.decode(dense).numpy().tolist() == normalize(raw, source.spec).numpy().tolist()


def test_evaluator_greedy_decodes_what_serving_decodes(outputs):
    """Greedy decoding in the evaluator (encoded records) equals the export's serving function (raw strings)."""
    import keras

    from components.evaluator.evaluate import decode_split, make_decode_fn
    from components.trainer.model_builder import build_model_for
    from models.decoding import Greedy
    from serving.export import make_serving_fn

    variant, out, _ = outputs
    cfg = load_config(["quickstart"], ["model.units=16", "model.embed_dim=8", "model.attention_units=8"])
    keras.utils.set_random_seed(0)
    model = build_model_for(cfg, json.loads((out / schema.MANIFEST).read_text()))  # untrained: any fixed weights
    source, target = TextProcessor.from_manifest(out, "source"), TextProcessor.from_manifest(out, "target")
    result = decode_split(out, get_task("translation"), "eval", make_decode_fn(model, target, 12, Greedy()),
                          lambda t: normalize(t, source.spec), batch_size=16)
    rows = records(out, "eval")
    assert result["sources"] == [row["source"][1][0] for row in rows]
    raw_targets = tf.constant([row["target"][1][0] for row in rows])
    assert result["references"] == [t.decode() for t in normalize(raw_targets, source.spec).numpy()]
    serve = tf.function(make_serving_fn(model, source, target, 12, Greedy()))
    served = [t.decode() for i in range(0, len(rows), 16)
              for t in serve(tf.constant(result["sources"][i:i + 16]))["translation"].numpy()]
    assert result["predictions"] == served
