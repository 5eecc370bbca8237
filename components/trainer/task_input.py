"""tf.data input over the transform's encoded TFRecords, for the tasks that train on examples (a language
model trains on one stream: `lm_input.py`).

Order (see STYLE.md): list shards -> read (parallel, deterministic) -> parse (`task.feature_spec`)
-> the task's per-example preparation (`task.prepare_examples`) -> cache -> shuffle examples (train
only, seeded) -> bucket by the length of the task's input ids (`task.input_ids`) with right padding
([PAD]=0) -> model inputs (`task.model_inputs`: `(x, y)` for `model.fit`) -> prefetch. Nothing is
shuffled after batching, so the examples inside a batch stay together.

Example:

>>> ds = make_task_dataset(transform_dir, "classification", "train", 32, (16, 32), training=True)  # doctest: +SKIP
>>> token_ids, label_id = next(iter(ds))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import tensorflow as tf

from components.registry import get_task
from serving import schema

AUTOTUNE = tf.data.AUTOTUNE


def list_shards(transform_dir: str | Path, split: str) -> list[str]:
    """Sorted shard paths of one split; raises if there are none."""
    pattern = schema.split_glob(transform_dir, split)
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(
            f"No TFRecord shards for split '{split}'. Received: pattern={pattern!r}. Run the transform step first."
        )
    return files


def read_task_examples(transform_dir: str | Path, task, split: str, with_raw: bool) -> tf.data.Dataset:
    """Parsed, unbatched examples of one split (`task.feature_spec`): dicts of dense tensors, in file order."""
    files = list_shards(transform_dir, split)
    spec = task.feature_spec(with_raw)

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        return {k: tf.sparse.to_dense(v) if isinstance(v, tf.sparse.SparseTensor) else v for k, v in parsed.items()}

    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=min(len(files), 8))
    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)


def char_ids_fn_for(uses_chars: bool, manifest: Mapping[str, Any]):
    """The `char_ids_fn` of `make_task_dataset` for a tagger with a character encoder (else None)."""
    if not uses_chars:
        return None
    from serving.text_processor import TokenizerSpec, word_char_ids

    spec = TokenizerSpec.from_dict(manifest["tokenizer"])
    return lambda words: word_char_ids(words, spec)


def _pad_values(example: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {k: tf.constant("" if v.dtype == tf.string else schema.PAD_ID, v.dtype) for k, v in example.items()}


def make_task_dataset(
    transform_dir: str | Path,
    task,
    split: str,
    batch_size: int,
    bucket_boundaries: Sequence[int] = (),
    training: bool = False,
    seed: int | None = None,
    shuffle_buffer: int = 10000,
    char_ids_fn=None,
    with_raw: bool = False,
) -> tf.data.Dataset:
    """Batched `(x, y)` (see module docstring); with `with_raw`, batches of dicts with raw strings too.

    Args:
        transform_dir: the transform artifact directory.
        task: a registered task or its name (its parsing spec, per-example preparation and model inputs).
        split: "train", "eval" or "test".
        batch_size: examples per batch.
        bucket_boundaries: input-length bucket boundaries (empty: one bucket, batches in file order).
        training: drop unseen labels, shuffle (seeded, reshuffled each epoch).
        seed, shuffle_buffer: the shuffle.
        char_ids_fn: tagging with a character encoder: dense words (batch, T)
            -> char ids (batch, T, C) (`serving.text_processor.word_char_ids`).
        with_raw: yield dicts (ids, raw strings, and "char_ids") in file order, for the evaluator.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    task = get_task(task) if isinstance(task, str) else task
    ds = read_task_examples(transform_dir, task, split, with_raw=with_raw or char_ids_fn is not None)
    ds = task.prepare_examples(ds, training).cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    boundaries = [int(b) for b in bucket_boundaries]
    example_spec = ds.element_spec
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda ex: tf.shape(ex[task.input_ids])[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes={k: [None] * s.shape.rank for k, s in example_spec.items()},
        padding_values=_pad_values(example_spec),
    )

    def add_char_ids(batch):
        if char_ids_fn is not None:
            batch = {**batch, "char_ids": char_ids_fn(batch[schema.RAW_TOKENS])}
        return batch

    ds = ds.map(add_char_ids, num_parallel_calls=AUTOTUNE)
    if not with_raw:
        ds = ds.map(task.model_inputs, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def teacher_forcing(source_ids: tf.Tensor, target_ids: tf.Tensor):
    """((source, [START] + target[:-1]), target) from right-padded batches.

    `target_ids` is (batch, T) with tokens, then [END], then [PAD]s; the
    decoder input is the same row shifted right by one behind [START].
    """
    batch = tf.shape(target_ids)[0]
    start = tf.fill([batch, 1], tf.constant(schema.START_ID, target_ids.dtype))
    target_in = tf.concat([start, target_ids[:, :-1]], axis=1)  # (batch, T)
    return (source_ids, target_in), target_ids
