"""tf.data input for language models: the token stream cut into windows or truncated-BPTT chunks.

The transform writes each text's token ids whole (`token_ids`, not
truncated). `read_stream` reads one split's TFRecords and concatenates its
texts into one stream, each text preceded by `[END]` (the document separator,
which also starts every generation prompt: see `serving/export.py`). Two
ways to cut it into `(x, y)` batches, `y` being `x` shifted by one token:

    windows    every `stride` tokens a window of `length` (x) and the `length`
               tokens after its first (y); training shuffles the windows (seeded).
               A window's last batch may be short.
    stateful   truncated BPTT, as in the lectures: the stream is cut into
               `batch_size` contiguous rows of equal length; batch k holds
               tokens [k L, (k+1) L) of every row, so row i of batch k+1
               continues row i of batch k. The model carries its states from
               batch to batch (`StatefulLanguageModel`) and gradients stay
               inside a chunk. Every batch is full; the tail of the stream
               that does not fill a chunk is dropped (at most
               `batch_size * length` tokens).

Example:

>>> stream = read_stream(transform_dir, "train")  # doctest: +SKIP
>>> x, y = next(iter(stateful_dataset(stream, length=100, batch_size=64)))  # doctest: +SKIP
>>> x.shape, y.shape  # doctest: +SKIP
(TensorShape([64, 100]), TensorShape([64, 100]))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from serving import schema
from components.trainer.task_input import AUTOTUNE, list_shards

def read_stream(transform_dir: str | Path, split: str) -> np.ndarray:
    """One split's texts as one int32 token stream: `[END] text_1 [END] text_2 ...` (file order)."""
    files = list_shards(transform_dir, split)
    spec = {schema.TOKEN_IDS: tf.io.VarLenFeature(tf.int64)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    ds = ds.map(lambda r: tf.sparse.to_dense(tf.io.parse_single_example(r, spec)[schema.TOKEN_IDS]))
    pieces = []
    for ids in ds.as_numpy_iterator():
        pieces.append(np.array([schema.END_ID], dtype=np.int32))
        pieces.append(ids.astype(np.int32))
    if not pieces:
        raise ValueError(f"No {split!r} texts in {transform_dir}: the language model has nothing to read")
    return np.concatenate(pieces)


def window_starts(num_tokens: int, length: int, stride: int) -> np.ndarray:
    """Start offsets of the windows: every `stride` tokens while `length + 1` tokens remain."""
    if length <= 0 or stride <= 0:
        raise ValueError(f"length and stride must be positive. Received: length={length}, stride={stride}")
    last = num_tokens - (length + 1)
    if last < 0:
        raise ValueError(
            f"The stream has {num_tokens} tokens, fewer than one window of {length} + 1. "
            "Lower train.sequence_length or give more text"
        )
    return np.arange(0, last + 1, stride, dtype=np.int64)


def windows_dataset(
    stream: np.ndarray,
    length: int,
    batch_size: int,
    stride: int = 0,
    training: bool = False,
    seed: int = 42,
) -> tf.data.Dataset:
    """`(x, y)` int32 batches `(batch, length)` of windows; shuffled every epoch when `training`."""
    starts = window_starts(len(stream), length, stride or length)
    tokens = tf.constant(stream, dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices(starts)
    if training:
        ds = ds.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def gather(batch_starts):
        index = batch_starts[:, None] + tf.range(length + 1, dtype=tf.int64)[None, :]  # (batch, length + 1)
        window = tf.gather(tokens, index)
        return window[:, :-1], window[:, 1:]

    return ds.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def carried_rows(num_tokens: int, length: int, batch_size: int) -> int:
    """Rows for reading a stream with carried states: `batch_size`, fewer when the stream is short."""
    return max(1, min(batch_size, (num_tokens - 1) // length))


def stateful_rows(stream: np.ndarray, length: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of shape `(batch_size, chunks * length)`: row i is the i-th contiguous slice of the stream."""
    row_tokens = (len(stream) - 1) // batch_size
    chunks = row_tokens // length
    if chunks == 0:
        raise ValueError(
            f"The stream has {len(stream)} tokens: too few for {batch_size} rows of at least one "
            f"chunk of {length}. Lower train.batch_size or train.sequence_length"
        )
    used = chunks * length
    starts = np.arange(batch_size) * row_tokens
    index = starts[:, None] + np.arange(used + 1)[None, :]  # (batch, used + 1)
    rows = stream[index]
    return rows[:, :-1], rows[:, 1:]


def stateful_dataset(stream: np.ndarray, length: int, batch_size: int) -> tf.data.Dataset:
    """`(x, y)` batches `(batch_size, length)` in stream order; batch k+1 continues batch k row by row."""
    x, y = stateful_rows(stream, length, batch_size)
    chunks = x.shape[1] // length
    # (batch, chunks * L) -> (chunks, batch, L): one dataset element per chunk, never shuffled
    x = x.reshape(batch_size, chunks, length).transpose(1, 0, 2)
    y = y.reshape(batch_size, chunks, length).transpose(1, 0, 2)
    return tf.data.Dataset.from_tensor_slices((x, y)).prefetch(AUTOTUNE)

