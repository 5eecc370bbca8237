"""tf.data input over the transform's encoded TFRecords, for every task but language_model (`lm_input.py`).

Order (see STYLE.md): list shards -> read (parallel, deterministic) -> parse
-> cache -> shuffle examples (train only, seeded) -> bucket by the length of
the model's input ids with right padding ([PAD]=0) -> model inputs ->
prefetch. Nothing is shuffled after batching, so the examples inside a batch
stay together. Yields `(x, y)` for `model.fit`:

    translation      x = (source_ids, target_in) (batch, S), (batch, T) int64    y = target_out (batch, T)
                     (teacher forcing: target_in = [START] + target_out[:-1])
    classification   x = token_ids (batch, T) int32              y = label_id (batch,)
    tagging          x = token_ids (batch, T) int32              y = tag_ids (batch, T)
                     or (token_ids, char_ids (batch, T, C)) with a character encoder

Examples whose label was unseen in train (`label_id` = -1) are dropped from
training batches (they are not a class); the evaluator scores them as errors.

Example:

>>> ds = make_task_dataset(transform_dir, "classification", "train", 32, (16, 32), training=True)  # doctest: +SKIP
>>> token_ids, label_id = next(iter(ds))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import tensorflow as tf

from serving import schema

AUTOTUNE = tf.data.AUTOTUNE
MAX_TAGGING_LENGTH = schema.MAX_TAGGING_LENGTH  # sentences are cut here (the Transformer tagger's position table)


def list_shards(transform_dir: str | Path, split: str) -> list[str]:
    """Sorted shard paths of one split; raises if there are none."""
    pattern = schema.split_glob(transform_dir, split)
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(
            f"No TFRecord shards for split '{split}'. Received: pattern={pattern!r}. Run the transform step first."
        )
    return files


def feature_spec(task: str, with_raw: bool) -> dict[str, Any]:
    """Parsing spec of the transform's encoded examples of `task`; the model's input ids come first."""
    if task == "translation":
        spec = {schema.SOURCE_IDS: tf.io.VarLenFeature(tf.int64), schema.TARGET_IDS: tf.io.VarLenFeature(tf.int64)}
        raw = {schema.RAW_SOURCE: tf.io.FixedLenFeature([], tf.string, default_value=""),
               schema.RAW_TARGET: tf.io.FixedLenFeature([], tf.string, default_value="")}
    elif task == "classification":
        spec = {schema.TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
                schema.LABEL_ID: tf.io.FixedLenFeature([], tf.int64)}
        raw = {schema.RAW_TEXT: tf.io.FixedLenFeature([], tf.string, default_value=""),
               schema.RAW_LABEL: tf.io.FixedLenFeature([], tf.string, default_value="")}
    elif task == "tagging":
        spec = {schema.TOKEN_IDS: tf.io.VarLenFeature(tf.int64), schema.TAG_IDS: tf.io.VarLenFeature(tf.int64)}
        raw = {schema.RAW_TOKENS: tf.io.VarLenFeature(tf.string), schema.RAW_TAGS: tf.io.VarLenFeature(tf.string)}
    else:
        raise ValueError(f"task_input handles translation, classification and tagging. Received: task={task!r}")
    return {**spec, **raw} if with_raw else spec


def read_task_examples(transform_dir: str | Path, task: str, split: str, with_raw: bool) -> tf.data.Dataset:
    """Parsed, unbatched examples of one split: dicts of dense tensors, in file order."""
    files = list_shards(transform_dir, split)
    spec = feature_spec(task, with_raw)

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
    task: str,
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
        task: "translation", "classification" or "tagging".
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
    ds = read_task_examples(transform_dir, task, split, with_raw=with_raw or char_ids_fn is not None)
    if task == "tagging":
        ds = ds.map(lambda ex: {k: v[:MAX_TAGGING_LENGTH] if v.shape.rank == 1 else v for k, v in ex.items()})
    if training and task == "classification":
        ds = ds.filter(lambda ex: ex[schema.LABEL_ID] >= 0)
    ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    boundaries = [int(b) for b in bucket_boundaries]
    example_spec = ds.element_spec
    input_ids = next(iter(feature_spec(task, with_raw=False)))  # source_ids or token_ids
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda ex: tf.shape(ex[input_ids])[0],
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
        ds = ds.map(lambda batch: to_model_inputs(batch, task), num_parallel_calls=AUTOTUNE)
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


def to_model_inputs(batch: Mapping[str, tf.Tensor], task: str):
    """A batch dict -> (x, y) as the model family takes it."""
    if task == "translation":
        return teacher_forcing(batch[schema.SOURCE_IDS], batch[schema.TARGET_IDS])
    token_ids = tf.cast(batch[schema.TOKEN_IDS], tf.int32)
    if task == "classification":
        return token_ids, batch[schema.LABEL_ID]
    x = (token_ids, batch["char_ids"]) if "char_ids" in batch else token_ids
    return x, tf.cast(batch[schema.TAG_IDS], tf.int32)
