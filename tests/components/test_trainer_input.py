"""Input pipeline, loss masking, precision and strategy tests (no model needed).

`write_toy_transform` builds a tiny transform artifact (a character copy task)
with the same layout as `components/transform`; other trainer/evaluator/pusher/
export tests import it.
"""

import json
import random
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from serving import schema
from components.trainer.task_input import make_task_dataset
from components.trainer.devices import make_strategy, resolve_precision
from components.trainer.model_builder import make_loss
from models.metrics import MaskedAccuracy

LETTERS = "abcdef"


def _example(source: str, target: str, vocab: dict) -> bytes:
    source_ids = [vocab[c] for c in source]
    target_ids = [vocab[c] for c in target] + [schema.END_ID]
    feature = {
        schema.SOURCE_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=source_ids)),
        schema.TARGET_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=target_ids)),
        schema.RAW_SOURCE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode()])),
        schema.RAW_TARGET: tf.train.Feature(bytes_list=tf.train.BytesList(value=[target.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_toy_transform(root: Path, counts=None, seed: int = 0, min_len: int = 2,
                        max_len: int = 9) -> Path:
    """A transform artifact for the copy task: target == source, char level."""
    counts = counts or {"train": 256, "eval": 48, "test": 32}
    root = Path(root)
    tokens = list(schema.RESERVED_TOKENS) + list(LETTERS)
    vocab = {t: i for i, t in enumerate(tokens)}
    (root / "vocab").mkdir(parents=True, exist_ok=True)
    for side in ("source", "target"):
        (root / "vocab" / f"{side}.txt").write_text("\n".join(tokens) + "\n")
    rng = random.Random(seed)
    splits = {}
    for split, count in counts.items():
        (root / split).mkdir(exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        texts = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(min_len, max_len)))
                 for _ in range(count)]
        for shard in range(2):
            path = root / split / f"data-{shard:05d}-of-00002.tfrecord.gz"
            with tf.io.TFRecordWriter(str(path), options) as writer:
                for text in texts[shard::2]:
                    writer.write(_example(text, text, vocab))
        splits[split] = {"pattern": f"{split}/{schema.RECORD_PATTERN}", "count": count}
    manifest = {
        "task": "translation",
        "tokenizer": {"kind": "char", "lowercase": True, "normalization": "NFKC"},
        "vocab": {side: {"file": f"vocab/{side}.txt", "size": len(tokens), "max_length": 16}
                  for side in ("source", "target")},
        "reserved": dict(schema.RESERVED_IDS),
        "max_source_length": 16,
        "max_target_length": 17,
        "splits": splits,
    }
    (root / schema.MANIFEST).write_text(json.dumps(manifest, indent=2))
    return root


@pytest.fixture(scope="module")
def toy_transform(tmp_path_factory):
    return write_toy_transform(tmp_path_factory.mktemp("transform"))


def _batches(ds):
    return [((s.numpy(), ti.numpy()), to.numpy()) for (s, ti), to in ds]


def test_buckets_group_by_source_length(toy_transform):
    boundaries = (4, 7)
    ds = make_task_dataset(toy_transform, "translation", "train", 16, boundaries, training=True, seed=1)
    batches = _batches(ds)
    assert sum(b[0][0].shape[0] for b in batches) == 256
    for (source, _), _ in batches:
        lengths = (source != 0).sum(axis=1)
        buckets = np.digitize(lengths, boundaries, right=False)
        assert len(set(buckets.tolist())) == 1, lengths
        assert source.shape[1] == lengths.max()  # padded to the batch's longest, no further


def test_right_padding_and_teacher_forcing_shift(toy_transform):
    ds = make_task_dataset(toy_transform, "translation", "eval", 8, (4, 7))
    for (source, target_in), target_out in _batches(ds):
        assert source.dtype == np.int64 and target_out.dtype == np.int64
        for row in source:
            nonpad = row != 0
            # right padding: once a PAD appears, only PADs follow
            assert not np.any(nonpad[np.argmin(nonpad):]) or nonpad.all()
        np.testing.assert_array_equal(target_in[:, 0], schema.START_ID)
        np.testing.assert_array_equal(target_in[:, 1:], target_out[:, :-1])
        for src_row, out_row in zip(source, target_out):
            # the copy task: the pairs inside a batch still belong together
            tokens = out_row[: list(out_row).index(schema.END_ID)]
            np.testing.assert_array_equal(tokens, src_row[src_row != 0])
            assert np.all(out_row[len(tokens) + 1:] == schema.PAD_ID)


def test_shuffle_is_seeded_and_eval_is_ordered(toy_transform):
    def first_rows(**kw):
        ds = make_task_dataset(toy_transform, "translation", "train", 16, (), **kw)
        return np.concatenate([s[:, :2] for (s, _), _ in _batches(ds)[:3]])

    np.testing.assert_array_equal(first_rows(training=True, seed=3), first_rows(training=True, seed=3))
    assert not np.array_equal(first_rows(training=True, seed=3), first_rows(training=True, seed=4))
    np.testing.assert_array_equal(first_rows(), first_rows())


def test_missing_split_raises(tmp_path):
    with pytest.raises(ValueError, match="No TFRecord shards"):
        make_task_dataset(tmp_path, "translation", "train", 4)


def test_text_dataset_keeps_raw_strings(toy_transform):
    batch = next(iter(make_task_dataset(toy_transform, "translation", "test", 5, with_raw=True)))
    assert batch[schema.SOURCE_IDS].shape[0] == 5
    assert batch[schema.RAW_SOURCE].numpy().tolist() == batch[schema.RAW_TARGET].numpy().tolist()


def test_pad_targets_contribute_nothing_to_loss():
    rng = np.random.default_rng(0)
    y_true = np.array([[5, 6, 3, 0, 0], [4, 3, 0, 0, 0]])
    logits = rng.normal(size=(2, 5, 8)).astype("float32")
    loss = make_loss()
    base = float(loss(y_true, logits))
    changed = logits.copy()
    changed[y_true == 0] = rng.normal(size=(int((y_true == 0).sum()), 8)) * 50
    assert float(loss(y_true, changed)) == pytest.approx(base, rel=1e-6)
    # equals the mean cross-entropy over the non-PAD positions
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, y_true[..., None], -1)[..., 0]
    assert base == pytest.approx(-picked[y_true != 0].mean(), rel=1e-5)


def test_masked_accuracy_ignores_pad():
    y_true = np.array([[5, 3, 0, 0]])
    logits = np.zeros((1, 4, 8), "float32")
    logits[0, 0, 5] = 1.0  # right
    logits[0, 1, 4] = 1.0  # wrong
    logits[0, 2:, 1] = 1.0  # PAD positions: wrong but ignored
    metric = MaskedAccuracy()
    metric.update_state(y_true, logits)
    assert float(metric.result()) == pytest.approx(0.5)


def test_precision_and_strategy_on_cpu():
    assert resolve_precision("auto") == ("mixed_float16" if tf.config.list_physical_devices("GPU")
                                          else "float32")
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert make_strategy("auto").num_replicas_in_sync == 1  # unknown names: the config loader (test_config)
    assert keras.mixed_precision.dtype_policy().name in ("float32", "mixed_float16", "mixed_bfloat16")
