"""Sampling pieces of the decoding loop: logit filters and seeded Gumbel noise, float32 throughout.

`filter_logits` keeps the top-k logits and / or the top-p nucleus (the smallest set of most
likely tokens whose probability reaches p; the most likely token always stays). `gumbel_noise`
makes the draws: argmax(logits / T + g) with g ~ Gumbel(0, 1) is an exact sample from
softmax(logits / T). The noise is a counter-based hash of (seed, draw index, token id) in
uint32 arithmetic, so

- a seed gives the same tokens on TensorFlow and JAX, eagerly, in a `tf.function` or under `jit`;
- the draw depends on the row's own counter, not on the batch: a prompt and a seed give the same
  text alone or in any batch (rows with equal prompts and seeds give equal texts);
- the seed may be a tensor (a served signature's input), which `keras.random` does not accept.

Every value here is float32 whatever the model's policy; `NEG_LOGIT` (-1e9) is the additive
"minus infinity" of the decoding code: sums of a few of them stay finite in float32, unlike the
layers' `large_negative` fill, which is safe in one softmax but not in a running sum.

Example:

>>> ops.convert_to_numpy(filter_logits(np.log([[0.1, 0.6, 0.3]]), top_k=1)) < -1e8  # all but the top token
array([[ True, False,  True]])
>>> ops.shape(gumbel_noise(7, ops.zeros((2,), "int32"), 3))  # equal rows: equal noise
(2, 3)
"""

from __future__ import annotations

import numpy as np
from keras import ops

NEG_LOGIT = -1e9


def _is_static(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating))


def filter_logits(logits, top_k=0, top_p=1.0):
    """Float32 logits `(batch, vocab)`, all outside the top-k and the top-p nucleus set to `NEG_LOGIT`.

    `top_k` <= 0 and `top_p` >= 1 keep everything; either may be a scalar tensor.
    """
    logits = ops.cast(logits, "float32")
    static_k, static_p = _is_static(top_k), _is_static(top_p)
    if static_k and static_p and top_k <= 0 and top_p >= 1.0:
        return logits
    descending = -ops.sort(-logits, axis=-1)  # (batch, vocab)
    vocab = ops.shape(logits)[-1]
    if not (static_k and top_k <= 0):
        k = ops.cast(top_k, "int32")
        index = ops.clip(k - 1, 0, vocab - 1)
        kth = ops.take(descending, ops.reshape(index, (1,)), axis=1)  # (batch, 1), the k-th largest
        logits = ops.where(ops.logical_and(k > 0, logits < kth), NEG_LOGIT, logits)
    if not (static_p and top_p >= 1.0):
        probs = ops.softmax(descending, axis=-1)
        before = ops.cumsum(probs, axis=-1) - probs  # mass of the more likely tokens
        kept = ops.where(before < ops.cast(top_p, "float32"), descending, 3e38)
        threshold = ops.min(kept, axis=-1, keepdims=True)  # smallest logit still in the nucleus
        logits = ops.where(logits < threshold, NEG_LOGIT, logits)
    return logits


def _u32(value):
    return ops.convert_to_tensor(np.uint32(value))


def _mix(x):
    """A 32-bit integer finaliser (lowbias32, C. Wellons): uint32 in, well-mixed uint32 out."""
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))
    x = ops.multiply(x, _u32(0x7FEB352D))
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(15)))
    x = ops.multiply(x, _u32(0x846CA68B))
    return ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))


def gumbel_noise(seed, counters, vocab_size):
    """Float32 `(rows, vocab_size)` Gumbel(0, 1) noise, a function of (seed, counters[row], token id) only.

    Args:
        seed: an int or an integer scalar tensor (its low 32 bits are used).
        counters: int `(rows,)`, the index of the draw in each row's sequence.
        vocab_size: int or scalar tensor.
    """
    seed32 = _u32(int(seed) & 0xFFFFFFFF) if _is_static(seed) else ops.cast(seed, "uint32")  # low 32 bits
    row = _mix(ops.bitwise_xor(_mix(ops.add(seed32, _u32(0x9E3779B9))), ops.cast(counters, "uint32")))
    tokens = ops.cast(ops.arange(vocab_size), "uint32")  # (vocab,)
    bits = _mix(ops.bitwise_xor(_mix(row)[:, None], tokens[None, :]))  # (rows, vocab)
    # 24 random bits -> a uniform in (0, 1), never 0 or 1
    uniform = (ops.cast(ops.right_shift(bits, _u32(8)), "float32") + 0.5) / 16777216.0
    return -ops.log(-ops.log(uniform))


def sample_tokens(logits, counters, temperature=1.0, top_k=0, top_p=1.0, seed=0):
    """Int32 `(rows,)` tokens drawn from `logits` `(rows, vocab)` (argmax where `temperature == 0`)."""
    logits = filter_logits(logits, top_k, top_p)
    greedy = ops.cast(ops.argmax(logits, axis=-1), "int32")
    if _is_static(temperature) and temperature == 0:
        return greedy
    temperature = ops.cast(temperature, "float32")
    noisy = logits / ops.maximum(temperature, 1e-6) + gumbel_noise(seed, counters, ops.shape(logits)[-1])
    sampled = ops.cast(ops.argmax(noisy, axis=-1), "int32")
    return ops.where(temperature > 0, sampled, greedy)
