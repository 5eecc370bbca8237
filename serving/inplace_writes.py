"""In-place key/value cache writes for the decoding loops of served graphs (TensorFlow without XLA).

`tf.tensor_scatter_nd_update` copies its whole input when it cannot take over the buffer, and inside a
`tf.while_loop` it never can: at batch 32 a 4 x 256 Transformer decoder copies 8 caches of 8.4 MB a step,
more than half the step on a busy machine, ~6% idle (`benchmarks/lm_generate_batch.py`).
`tf.raw_ops.InplaceUpdate` writes the rows into the buffer it is given, which is safe here because of the
contract of `models.layers.cache_writes`: `decode_seq2seq` and `generate` hand the loop `DeepCopy`s of the
state it starts from (one copy a request, not one a step), a beam search's reordering gathers into new
buffers, and nothing reads a cache after the step that replaces it (each step's writes need the token chosen
from the previous step's logits, which need every read of that step). The graph keeps plain TensorFlow ops,
so it runs in the stock model server.

Example:

>>> serve = with_inplace_cache_writes(serve)  # doctest: +SKIP
>>> tf.function(serve).get_concrete_function(tf.TensorSpec([None], tf.string))  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import tensorflow as tf

from models.layers.cache_writes import cache_writes


def _write(flat: tf.Tensor, rows: tf.Tensor, updates: tf.Tensor) -> tf.Tensor:
    return tf.raw_ops.InplaceUpdate(x=flat, i=tf.reshape(rows, [-1]), v=updates)


def _copy(x: tf.Tensor) -> tf.Tensor:
    return tf.raw_ops.DeepCopy(x=x)


def with_inplace_cache_writes(fn):
    """`fn` traced with in-place cache writes: its decoding loops copy their state once, then write in place."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with cache_writes(_write, _copy):
            return fn(*args, **kwargs)

    return wrapped
