"""Next-token sampling (temperature, top-k, top-p) and generation with carried states.

All in float32 whatever the model's policy. `temperature=0` is greedy
(argmax); top-k keeps the k largest logits; top-p keeps the smallest set of
most likely tokens whose probability reaches p (the nucleus; the most likely
token is always kept). Sampling is seeded: the same seed gives the same tokens.

Example:

>>> ops.convert_to_numpy(sample_next(np.log([[0.1, 0.6, 0.3]]), temperature=0.0))
array([1], dtype=int32)
>>> out = generate(model, np.array([[5, 6]]), max_new_tokens=10, temperature=0.7, seed=1)  # doctest: +SKIP
"""

import keras
from keras import ops

_NEG = -1e9  # a float32 "minus infinity" that keeps softmax finite


def filter_logits(logits, top_k=0, top_p=1.0):
    """Float32 logits `(batch, vocab)` with everything outside top-k / the top-p nucleus set to -1e9."""
    logits = ops.cast(logits, "float32")
    if top_k and top_k > 0:
        kth = ops.top_k(logits, k=int(top_k))[0][:, -1:]  # (batch, 1), the k-th largest
        logits = ops.where(logits < kth, _NEG, logits)
    if top_p is not None and top_p < 1.0:
        order = ops.argsort(-logits, axis=-1)  # descending
        sorted_logits = ops.take_along_axis(logits, order, axis=-1)
        probs = ops.softmax(sorted_logits, axis=-1)
        before = ops.cumsum(probs, axis=-1) - probs  # mass of the more likely tokens
        kept = ops.where(before < top_p, sorted_logits, ops.full_like(sorted_logits, 3e38))
        threshold = ops.min(kept, axis=-1, keepdims=True)  # smallest logit still in the nucleus
        logits = ops.where(logits < threshold, _NEG, logits)
    return logits


def sample_next(logits, temperature=1.0, top_k=0, top_p=1.0, seed=None):
    """Token ids `(batch,)` int32 drawn from `logits` `(batch, vocab)` (argmax when `temperature == 0`)."""
    if temperature < 0:
        raise ValueError(f"Expected `temperature` >= 0. Received: temperature={temperature!r}")
    logits = filter_logits(logits, top_k, top_p)
    if temperature == 0:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    samples = keras.random.categorical(logits / temperature, 1, seed=seed)  # (batch, 1)
    return ops.cast(samples[:, 0], "int32")


def ban_tokens(logits, banned_ids=()):
    """Float32 logits `(batch, vocab)` with the `banned_ids` columns set to -1e9 (never sampled)."""
    logits = ops.cast(logits, "float32")
    if not banned_ids:
        return logits
    vocab = ops.shape(logits)[-1]
    banned = ops.sum(ops.one_hot(ops.convert_to_tensor(list(banned_ids), "int32"), vocab), axis=0) > 0
    return ops.where(banned[None, :], _NEG, logits)


def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0, seed=None, banned_ids=()):
    """Continues `prompt_ids` `(batch, P)` (no padding) by `max_new_tokens` tokens.

    The prompt runs once through `model(..., return_state=True)`; every new
    token then costs one `model.step` (the RNN states are the cache), never a
    re-run over the prefix. `banned_ids` are never generated (e.g. `[PAD]`
    and `[START]`, which are never a language model's training targets).

    Returns:
        int32 `(batch, max_new_tokens)`, the new tokens only.
    """
    seeds = keras.random.SeedGenerator(seed) if seed is not None else None
    logits, states = model(prompt_ids, return_state=True)
    next_logits = logits[:, -1, :]  # (batch, vocab)
    tokens = []
    for _ in range(int(max_new_tokens)):
        token = sample_next(ban_tokens(next_logits, banned_ids), temperature, top_k, top_p, seed=seeds)  # (batch,)
        tokens.append(token)
        next_logits, states = model.step(token, states)
    return ops.stack(tokens, axis=1)
