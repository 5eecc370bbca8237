"""tf.data input pipelines over the transform's encoded TFRecords.

Order (see STYLE.md): list shards -> read (parallel, deterministic) -> parse
-> cache -> shuffle examples (train only, seeded) -> bucket by source length
with right padding ([PAD]=0) -> teacher-forcing shift -> prefetch. Nothing is
shuffled after batching, so the examples inside a batch stay together.

Example:

>>> ds = make_dataset(transform_dir, "train", batch_size=64,
...                   bucket_boundaries=(12, 18), training=True, seed=42)
>>> (source_ids, target_in), target_out = next(iter(ds))
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from components import schema

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


def list_shards(transform_dir: str | Path, split: str) -> list[str]:
    """Sorted shard paths of one split; raises if there are none."""
    pattern = schema.split_glob(transform_dir, split)
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(
            f"No TFRecord shards for split '{split}'. Received: pattern={pattern!r}. "
            "Run the transform step first."
        )
    return files


def _feature_spec(with_text: bool) -> dict:
    spec = {
        schema.SOURCE_IDS: tf.io.VarLenFeature(tf.int64),
        schema.TARGET_IDS: tf.io.VarLenFeature(tf.int64),
    }
    if with_text:
        spec[schema.RAW_SOURCE] = tf.io.FixedLenFeature([], tf.string, default_value="")
        spec[schema.RAW_TARGET] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def read_examples(transform_dir: str | Path, split: str, with_text: bool = False) -> tf.data.Dataset:
    """Parsed, unbatched examples: dicts of dense int64 id vectors (and raw strings)."""
    files = list_shards(transform_dir, split)
    spec = _feature_spec(with_text)

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        for key in (schema.SOURCE_IDS, schema.TARGET_IDS):
            parsed[key] = tf.sparse.to_dense(parsed[key])
        return parsed

    ds = tf.data.TFRecordDataset(
        files, compression_type="GZIP", num_parallel_reads=min(len(files), 8)
    )
    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)


def teacher_forcing(source_ids: tf.Tensor, target_ids: tf.Tensor):
    """((source, [START] + target[:-1]), target) from right-padded batches.

    `target_ids` is (batch, T) with tokens, then [END], then [PAD]s; the
    decoder input is the same row shifted right by one behind [START].
    """
    batch = tf.shape(target_ids)[0]
    start = tf.fill([batch, 1], tf.constant(schema.START_ID, target_ids.dtype))
    target_in = tf.concat([start, target_ids[:, :-1]], axis=1)  # (batch, T)
    return (source_ids, target_in), target_ids


def make_dataset(
    transform_dir: str | Path,
    split: str,
    batch_size: int,
    bucket_boundaries: Sequence[int] = (),
    training: bool = False,
    seed: int | None = None,
    shuffle_buffer: int = 10000,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batched `((source_ids, target_in), target_out)` for `model.fit`.

    Args:
        transform_dir: the transform artifact directory.
        split: "train", "eval" or "test".
        batch_size: examples per batch (the same for every bucket).
        bucket_boundaries: source-length bucket boundaries; empty means one
            bucket (plain padded batching).
        training: shuffle (seeded) and reshuffle each epoch.
        seed: the shuffle seed.
        shuffle_buffer: the shuffle buffer size in examples.
        cache: cache parsed examples in memory (before shuffling).

    Returns:
        A dataset of int64 tensors, right-padded with [PAD]=0.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    ds = read_examples(transform_dir, split).map(
        lambda ex: (ex[schema.SOURCE_IDS], ex[schema.TARGET_IDS]),
        num_parallel_calls=AUTOTUNE,
    )
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    boundaries = [int(b) for b in bucket_boundaries]
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda source, target: tf.shape(source)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=([None], [None]),
        padding_values=(
            tf.constant(schema.PAD_ID, tf.int64),
            tf.constant(schema.PAD_ID, tf.int64),
        ),
    )
    ds = ds.map(teacher_forcing, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def make_text_dataset(transform_dir: str | Path, split: str, batch_size: int) -> tf.data.Dataset:
    """Batches of dicts with padded `source_ids` and raw `source`/`target` strings, in file order."""
    ds = read_examples(transform_dir, split, with_text=True).map(
        lambda ex: {
            schema.SOURCE_IDS: ex[schema.SOURCE_IDS],
            schema.RAW_SOURCE: ex[schema.RAW_SOURCE],
            schema.RAW_TARGET: ex[schema.RAW_TARGET],
        }
    )
    return ds.padded_batch(
        batch_size,
        padded_shapes={schema.SOURCE_IDS: [None], schema.RAW_SOURCE: [], schema.RAW_TARGET: []},
        padding_values={
            schema.SOURCE_IDS: tf.constant(schema.PAD_ID, tf.int64),
            schema.RAW_SOURCE: "",
            schema.RAW_TARGET: "",
        },
    ).prefetch(AUTOTUNE)
