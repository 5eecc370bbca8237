"""Beam search over a step function, batched and traceable (`keras.ops` only).

The model is reached through one function, `step_fn(ids, state) -> (logits, state, extras)`:
`ids` int32 `(rows,)` are the previous tokens, `state` any nest of tensors whose leading
dimension is `rows`, `logits` `(rows, vocab)`, and `extras` a nest of per-step tensors
`(rows, ...)` to record (attention weights, say; `()` for none). The seq2seq models'
`decode_step` has this shape already.

Each sentence of the batch keeps `beam_width` hypotheses. At step t every live
hypothesis is extended by every token; candidates are ranked by their
length-penalized score, log P(y) / lp(|y|) with GNMT's lp(n) = ((5 + n) / 6)^α
(Wu et al. 2016; α = 0 ranks by log-probability), and the best `beam_width`
survive, their states reordered. A hypothesis that emits `end_id` is finished:
it is frozen (it is extended only by [PAD], at no cost) and keeps competing with
the live ones. The loop stops at `max_length` or once every hypothesis is
finished. Logits, softmax and scores are float32 whatever the model's policy.

Example:

>>> step = lambda ids, state: model.decode_step(ids, state)  # doctest: +SKIP
>>> out = beam_search(step, list(model.encode(source_ids)), batch_size=2, start_id=2, end_id=3,
...                   beam_width=4, max_length=20, length_penalty=0.6, num_results=2)  # doctest: +SKIP
>>> out["tokens"].shape, out["scores"].shape  # doctest: +SKIP
((2, 2, 20), (2, 2))
"""

from __future__ import annotations

import keras
from keras import ops

_NEG = -1e9  # a float32 "minus infinity" that keeps sums and softmax finite
PAD_ID = 0


def length_penalty_of(lengths, alpha: float):
    """GNMT's length penalty ((5 + n) / 6) ** alpha, float32, for int lengths `n`."""
    return ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, float(alpha))


def _check(beam_width, max_length, num_results, length_penalty):
    for name, value in (("beam_width", beam_width), ("max_length", max_length), ("num_results", num_results)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"Expected `{name}` to be a positive Python int. Received: {name}={value!r}")
    if num_results > beam_width:
        raise ValueError(f"Expected `num_results` <= `beam_width`. Received: num_results={num_results}, "
                         f"beam_width={beam_width}")
    if length_penalty < 0:
        raise ValueError(f"Expected `length_penalty` >= 0. Received: length_penalty={length_penalty!r}")


def beam_search(step_fn, state, batch_size, start_id: int, end_id: int, beam_width: int = 4,
                max_length: int = 50, length_penalty: float = 0.0, num_results: int = 1, banned_ids=(),
                start_ids=None):
    """The `num_results` best hypotheses per sentence (see module docstring).

    Args:
        step_fn: `(ids (rows,), state) -> (logits (rows, vocab), state, extras)`.
        state: the step function's state for the `batch_size` sentences (leading dimension `batch_size`);
            it is repeated `beam_width` times here.
        batch_size: the number of sentences (a Python int or a scalar tensor).
        start_id: the token fed at the first step ([START]) when `start_ids` is None.
        end_id: the token that finishes a hypothesis ([END]).
        beam_width: hypotheses kept per sentence (1: greedy).
        max_length: steps at most (Python int).
        length_penalty: GNMT's α (0: rank by log-probability).
        num_results: hypotheses returned per sentence, best first.
        banned_ids: tokens never emitted (e.g. [PAD] and [START]); the softmax is over the others.
        start_ids: optional int `(batch_size,)` first inputs (e.g. the last prompt token of a language model).

    Returns:
        A dict, N = `num_results`, T = `max_length`:
        - `tokens`: int32 `(batch, N, T)`, `end_id` included, [PAD] after it.
        - `lengths`: int32 `(batch, N)`, tokens up to and including [END] (T if none).
        - `scores`: float32 `(batch, N)`, log P / lp(length): the ranking, descending.
        - `log_probs`: float32 `(batch, N)`, the raw log-probability of each hypothesis.
        - `extras`: the step extras of each hypothesis, `(batch, N, T, ...)`, zeros after [END].
    """
    _check(beam_width, max_length, num_results, length_penalty)
    k, steps = beam_width, max_length
    rows = batch_size * k

    def tile(x):  # (batch, ...) -> (batch * k, ...), each sentence's rows together
        return ops.repeat(x, k, axis=0)

    state = keras.tree.map_structure(tile, state)
    if start_ids is None:
        prev = ops.full((rows,), start_id, dtype="int32")
    else:
        prev = tile(ops.cast(start_ids, "int32"))

    # One dry step gives the vocabulary size and the extras' shapes (its outputs are not used otherwise).
    logits0, _, extras0 = step_fn(prev, state)
    vocab = ops.shape(logits0)[-1]
    banned = ops.zeros((vocab,), dtype="bool")
    for token in banned_ids:
        banned = ops.logical_or(banned, ops.equal(ops.arange(vocab), token))
    # A finished hypothesis continues with [PAD] only, at no cost.
    frozen_row = ops.where(ops.equal(ops.arange(vocab), PAD_ID), 0.0, _NEG)  # (vocab,)
    positions = ops.arange(steps, dtype="int32")

    def extras_buffer(x):  # (rows, ...) -> zeros (batch, k, steps, ...)
        shape = ops.shape(x)
        return ops.zeros((batch_size, k, steps, *shape[1:]), dtype="float32")

    init = (
        ops.convert_to_tensor(0, dtype="int32"),
        prev,
        state,
        # only the first hypothesis is live at the start: the others would repeat it
        ops.tile(ops.concatenate([ops.zeros((1, 1)), ops.full((1, k - 1), _NEG)], axis=1), [batch_size, 1]),
        ops.zeros((batch_size, k, steps), dtype="int32"),  # tokens
        ops.full((batch_size, k), steps, dtype="int32"),  # lengths
        ops.zeros((batch_size, k), dtype="bool"),  # finished
        keras.tree.map_structure(extras_buffer, extras0),
    )

    def cond(i, prev, state, log_probs, tokens, lengths, finished, extras):
        return ops.logical_and(i < steps, ops.logical_not(ops.all(finished)))

    def body(i, prev, state, log_probs, tokens, lengths, finished, extras):
        logits, new_state, step_extras = step_fn(prev, state)
        logits = ops.where(banned[None, :], _NEG, ops.cast(logits, "float32"))
        token_lp = ops.reshape(ops.log_softmax(logits, axis=-1), (batch_size, k, vocab))
        token_lp = ops.where(finished[:, :, None], frozen_row[None, None, :], token_lp)
        total = log_probs[:, :, None] + token_lp  # (batch, k, vocab) raw log P of each candidate
        cand_len = ops.where(finished, lengths, i + 1)  # (batch, k)
        penalized = total / length_penalty_of(cand_len, length_penalty)[:, :, None]
        top_scores, flat = ops.top_k(ops.reshape(penalized, (batch_size, k * vocab)), k=k)  # (batch, k)
        beam = flat // vocab  # which hypothesis each survivor extends
        token = ops.cast(flat % vocab, "int32")
        log_probs = ops.take_along_axis(ops.reshape(total, (batch_size, k * vocab)), flat, axis=1)

        def reorder(x):  # (batch, k, ...) -> the survivors' rows
            index = ops.reshape(beam, (batch_size, k) + (1,) * (len(x.shape) - 2))
            return ops.take_along_axis(x, index, axis=1)

        was_finished = reorder(finished)
        at_i = ops.cast(ops.equal(positions, i), "int32")  # (steps,)
        tokens = reorder(tokens) + at_i[None, None, :] * token[:, :, None]
        lengths = ops.where(was_finished, reorder(lengths), ops.where(ops.equal(token, end_id), i + 1, steps))
        finished = ops.logical_or(was_finished, ops.equal(token, end_id))
        rows_index = ops.reshape(ops.arange(batch_size)[:, None] * k + beam, (-1,))  # (rows,)
        state = keras.tree.map_structure(  # the loop keeps the state's dtypes (mixed precision)
            lambda new, old: ops.cast(ops.take(new, rows_index, axis=0), old.dtype), new_state, state)
        live = 1.0 - ops.cast(was_finished, "float32")  # (batch, k): nothing recorded after [END]

        def record(buffer, x):
            x = ops.take(ops.cast(x, "float32"), rows_index, axis=0)
            x = ops.reshape(x, (batch_size, k, *ops.shape(x)[1:]))  # (batch, k, ...)
            x = x * ops.reshape(live, (batch_size, k) + (1,) * (len(x.shape) - 2))
            at = ops.reshape(ops.cast(at_i, "float32"), (1, 1, steps) + (1,) * (len(x.shape) - 2))
            return reorder(buffer) + at * ops.expand_dims(x, 2)

        extras = keras.tree.map_structure(record, extras, step_extras)
        prev = ops.reshape(token, (-1,))
        return i + 1, prev, state, log_probs, tokens, lengths, finished, extras

    _, _, _, log_probs, tokens, lengths, _, extras = ops.while_loop(cond, body, init)
    scores = log_probs / length_penalty_of(lengths, length_penalty)
    best_scores, order = ops.top_k(scores, k=num_results)  # (batch, N), best first

    def pick(x):
        index = ops.reshape(order, (batch_size, num_results) + (1,) * (len(x.shape) - 2))
        return ops.take_along_axis(x, index, axis=1)

    return {
        "tokens": pick(tokens),
        "lengths": pick(lengths),
        "scores": best_scores,
        "log_probs": pick(log_probs),
        "extras": keras.tree.map_structure(pick, extras),
    }
