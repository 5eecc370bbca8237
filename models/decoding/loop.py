"""The decoding loop: one batched, traceable loop over a step function for every generative model.

The model is reached through one function, `step_fn(ids, state) -> (logits, state, extras)`:
`ids` int32 `(rows,)` are the previous tokens, `state` any nest of tensors whose leading dimension
is `rows`, `logits` `(rows, vocab)`, and `extras` a nest of per-step tensors `(rows, ...)` to record
(attention weights; `()` for none). The seq2seq models' `decode_step` has this shape; a language
model's `step` gains an empty `extras`.

`decode` starts from the first step's outputs (`logits` for the first token, `state` after that
step) and runs `max_length` steps at most. Each sentence keeps `strategy.width` hypotheses (the beam;
1 for greedy and sampling). At step t every hypothesis is extended by the strategy's choice
(`models.decoding.strategies`); a hypothesis that emits `end_id` or reaches its sentence's token
budget is finished: it is frozen (extended only by [PAD], at no cost), and for beam search keeps
competing with the live ones. The loop stops at `max_length` or once every hypothesis is finished.
Logits, softmax and scores are float32 whatever the model's policy; the state keeps its dtypes.

A sentence may start with *forced* tokens: `forced_ids[b, t]` is chosen at step t while
`t < forced_lengths[b]`, at no cost and without a draw. A language model runs the shortest prompt of
a batch through its full pass and forces the rest of each longer prompt, so a batch of prompts of
mixed lengths decodes together and each gives what it gives alone.

Everything is `keras.ops` in one `ops.while_loop`: it traces into a `tf.while_loop` for a served
graph (no XLA needed) and into `lax.while_loop` under `jax.jit` (where `max_length` and the prompt
split must be Python ints).

Example:

>>> out = decode_seq2seq(model, source_ids, BeamSearch(4, length_penalty=0.6), max_length=20)  # doctest: +SKIP
>>> out["tokens"].shape, out["scores"].shape  # doctest: +SKIP
((2, 1, 20), (2, 1))
"""

from __future__ import annotations

import keras
from keras import ops

from models.layers import cache_writes
from models.decoding.sampling import NEG_LOGIT, sample_tokens
from models.decoding.strategies import Sampling, length_penalty_of

PAD_ID, START_ID, END_ID = 0, 2, 3
NEVER_EMITTED = (PAD_ID, START_ID)  # no target sequence contains them


def _as_int32(x, batch, default):
    if x is None:
        x = default
    return ops.broadcast_to(ops.cast(x, "int32"), (batch,))


def decode(step_fn, logits, state, strategy, max_length, end_id: int = END_ID, extras=(),
           banned_ids=NEVER_EMITTED, forced_ids=None, forced_lengths=None, budgets=None):
    """Runs `strategy` from the first step's outputs (see module docstring).

    Args:
        step_fn: `(ids (rows,), state) -> (logits (rows, vocab), state, extras)`.
        logits: `(batch, vocab)`, the first step's logits (the first token's distribution).
        state: the state after that step, leading dimension `batch` (within a `cache_writes` scope, buffers
            the caller owns: `cache_writes.own`).
        strategy: `Greedy()`, `Sampling(...)` or `BeamSearch(...)`.
        max_length: steps at most, forced ones included (a Python int; a scalar tensor on TensorFlow).
        end_id: the token that finishes a hypothesis ([END]).
        extras: the first step's extras, a nest of `(batch, ...)` tensors.
        banned_ids: tokens never emitted (the softmax is over the others).
        forced_ids: optional int `(batch, F)`, tokens chosen at steps `t < forced_lengths[b]`.
        forced_lengths: optional int `(batch,)`, forced steps per sentence (0: none).
        budgets: optional int, scalar or `(batch,)`: free tokens per sentence at most (default `max_length`).

    Returns:
        A dict, N = `strategy.num_results`, T = `max_length`, best first:
        - `tokens`: int32 `(batch, N, T)`: forced tokens, then the chosen ones, `end_id` included, [PAD] after.
        - `lengths`: int32 `(batch, N)`, tokens up to the end (`end_id` or the budget), forced ones included.
        - `scores`: float32 `(batch, N)`, log P / lp(free tokens): the ranking, descending.
        - `log_probs`: float32 `(batch, N)`, the raw log-probability of the chosen tokens.
        - `extras`: each step's extras `(batch, N, T, ...)`, float32, zeros after the end.
    """
    k = strategy.width
    sampling = isinstance(strategy, Sampling)
    alpha = 0.0 if sampling else float(strategy.length_penalty)
    steps = max_length
    batch = ops.shape(logits)[0]
    vocab = ops.shape(logits)[-1]
    forced_lengths = _as_int32(forced_lengths, batch, 0)
    budgets = ops.maximum(_as_int32(budgets, batch, steps), 0)
    if forced_ids is None:
        forced_ids = ops.zeros((batch, 1), "int32")
    forced_ids = ops.cast(forced_ids, "int32")
    last_forced = ops.shape(forced_ids)[1] - 1

    def tile(x):  # (batch, ...) -> (batch * k, ...), each sentence's hypotheses together
        return ops.repeat(x, k, axis=0) if k > 1 else x

    def as_f32(tree):
        return keras.tree.map_structure(lambda x: ops.cast(x, "float32"), tree)

    logits = ops.cast(tile(logits), "float32")
    state = keras.tree.map_structure(tile, state)
    extras = as_f32(keras.tree.map_structure(tile, extras))
    token_ids = ops.arange(vocab, dtype="int32")
    banned = ops.zeros((vocab,), dtype="bool")
    for token in banned_ids:
        banned = ops.logical_or(banned, ops.equal(token_ids, token))
    frozen_row = ops.where(ops.equal(token_ids, PAD_ID), 0.0, NEG_LOGIT)  # (vocab,): [PAD] at no cost
    positions = ops.arange(steps, dtype="int32")
    done = ops.logical_and(ops.equal(forced_lengths, 0), budgets <= 0)  # (batch,): nothing to do

    def extras_buffer(x):  # (batch * k, ...) -> zeros (batch, k, steps, ...)
        return ops.zeros((batch, k, steps, *ops.shape(x)[1:]), dtype="float32")

    init = (
        ops.convert_to_tensor(0, dtype="int32"),
        logits,
        state,
        extras,
        # only the first hypothesis is live at the start: the others would repeat it
        ops.tile(ops.concatenate([ops.zeros((1, 1)), ops.full((1, k - 1), NEG_LOGIT)], axis=1), [batch, 1]),
        ops.zeros((batch, k, steps), dtype="int32"),  # tokens
        ops.tile(ops.where(done, 0, steps)[:, None], [1, k]),  # lengths
        ops.tile(done[:, None], [1, k]),  # finished
        keras.tree.map_structure(extras_buffer, extras),
    )

    def cond(i, logits, state, extras, log_probs, tokens, lengths, finished, recorded):
        return ops.logical_and(i < steps, ops.logical_not(ops.all(finished)))

    def body(i, logits, state, extras, log_probs, tokens, lengths, finished, recorded):
        logits = ops.where(banned[None, :], NEG_LOGIT, ops.cast(logits, "float32"))  # (rows, vocab)
        token_lp = ops.reshape(ops.log_softmax(logits, axis=-1), (batch, k, vocab))
        forced = i < forced_lengths  # (batch,)
        forced_token = ops.take(forced_ids, ops.minimum(i, last_forced), axis=1)  # (batch,)
        forced_row = ops.where(ops.equal(token_ids[None, :], forced_token[:, None]), 0.0, NEG_LOGIT)
        token_lp = ops.where(forced[:, None, None], forced_row[:, None, :], token_lp)
        token_lp = ops.where(finished[:, :, None], frozen_row[None, None, :], token_lp)  # (batch, k, vocab)
        total = log_probs[:, :, None] + token_lp  # raw log P of each candidate
        if sampling:
            counters = ops.maximum(i - forced_lengths, 0)  # the draw's index among the sentence's free tokens
            drawn = sample_tokens(logits, counters, strategy.temperature, strategy.top_k, strategy.top_p,
                                  strategy.seed)  # (batch,)
            pinned = ops.cast(ops.argmax(token_lp[:, 0, :], axis=-1), "int32")  # the forced token or [PAD]
            token = ops.where(ops.logical_or(forced, finished[:, 0]), pinned, drawn)[:, None]  # (batch, 1)
            beam = ops.zeros((batch, 1), dtype="int32")
            log_probs = ops.take_along_axis(total[:, 0, :], token, axis=1)  # (batch, 1)
        else:
            free_len = ops.maximum(ops.where(finished, lengths, i + 1) - forced_lengths[:, None], 0)
            penalized = total / length_penalty_of(free_len, alpha)[:, :, None]
            _, flat = ops.top_k(ops.reshape(penalized, (batch, k * vocab)), k=k)  # (batch, k)
            beam = ops.cast(flat // vocab, "int32")  # the hypothesis each survivor extends
            token = ops.cast(flat % vocab, "int32")
            log_probs = ops.take_along_axis(ops.reshape(total, (batch, k * vocab)), flat, axis=1)

        def reorder(x):  # (batch, k, ...) -> the survivors' rows (one hypothesis: nothing moves)
            if k == 1:
                return x
            return ops.take_along_axis(x, ops.reshape(beam, (batch, k) + (1,) * (len(x.shape) - 2)), axis=1)

        was_finished = reorder(finished)
        at_i = ops.cast(ops.equal(positions, i), "int32")  # (steps,)
        tokens = reorder(tokens) + at_i[None, None, :] * token[:, :, None]
        ended = ops.logical_and(ops.logical_not(forced)[:, None], ops.equal(token, end_id))
        spent = (i + 1 - forced_lengths >= budgets)[:, None]  # the budget is used up
        just_finished = ops.logical_and(ops.logical_not(was_finished), ops.logical_or(ended, spent))
        lengths = ops.where(was_finished, reorder(lengths), ops.where(just_finished, i + 1, steps))
        finished = ops.logical_or(was_finished, just_finished)
        rows = ops.reshape(ops.arange(batch, dtype="int32")[:, None] * k + beam, (-1,))  # (batch * k,)
        if k > 1:  # a gather of the whole state (a Transformer's cache): only a beam needs it
            state = keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        live = 1.0 - ops.cast(was_finished, "float32")  # (batch, k): nothing recorded after the end

        def record(buffer, x):
            x = ops.take(x, rows, axis=0) if k > 1 else x
            x = ops.reshape(x, (batch, k, *ops.shape(x)[1:]))  # (batch, k, ...)
            x = x * ops.reshape(live, (batch, k) + (1,) * (len(x.shape) - 2))
            at = ops.reshape(ops.cast(at_i, "float32"), (1, 1, steps) + (1,) * (len(x.shape) - 2))
            return reorder(buffer) + at * ops.expand_dims(x, 2)

        recorded = keras.tree.map_structure(record, recorded, extras)
        logits, new_state, extras = step_fn(ops.reshape(token, (-1,)), state)
        state = keras.tree.map_structure(lambda new, old: ops.cast(new, old.dtype), new_state, state)
        return i + 1, ops.cast(logits, "float32"), state, as_f32(extras), log_probs, tokens, lengths, finished, recorded

    _, _, _, _, log_probs, tokens, lengths, _, recorded = ops.while_loop(cond, body, init)
    free = ops.maximum(lengths - forced_lengths[:, None], 0)
    scores = log_probs / length_penalty_of(free, alpha)
    best_scores, order = ops.top_k(scores, k=strategy.num_results)  # (batch, N), best first

    def pick(x):
        return ops.take_along_axis(x, ops.reshape(order, (batch, -1) + (1,) * (len(x.shape) - 2)), axis=1)

    return {
        "tokens": pick(tokens),
        "lengths": pick(lengths),
        "scores": best_scores,
        "log_probs": pick(log_probs),
        "extras": keras.tree.map_structure(pick, recorded),
    }


def decode_seq2seq(model, source_ids, strategy, max_length, start_id: int = START_ID, end_id: int = END_ID):
    """Decodes an encoder-decoder (`encode`, `decode_step`) from `source_ids` `(batch, S)`, right-padded with 0.

    Returns `decode`'s dict; `extras` are the attention weights `(batch, N, T, S)`.
    """
    source_ids = ops.convert_to_tensor(source_ids)
    state = keras.tree.map_structure(cache_writes.own, model.encode(source_ids, training=False))  # see `own`
    start = ops.full((ops.shape(source_ids)[0],), start_id, dtype="int32")
    logits, state, weights = model.decode_step(start, state)
    return decode(model.decode_step, logits, state, strategy, max_length, end_id, extras=weights)


def generate(model, prompt_ids, prompt_lengths, strategy, max_new_tokens, max_length=None, context=None,
             shortest=None, end_id: int = END_ID):
    """Continues each prompt of a batch with a language model (`model(ids, return_state=True)`, `model.step`).

    A model whose cache continues each row of a right-padded batch after its own prompt (a class attribute
    `continues_padded_prompts = True`, the Transformer decoder) runs the prompts in one full pass. Otherwise
    (an RNN, whose states would run through the padding) the first `shortest` tokens of every prompt go through
    one full pass and the rest of each longer prompt is forced, one cached step a token. Then up to
    `max_new_tokens` tokens are chosen by `strategy`.

    Args:
        prompt_ids: int `(batch, P)`, right-padded; `prompt_lengths` int `(batch,)`, each >= 1.
        max_new_tokens: int or int tensor, scalar or `(batch,)`.
        max_length: steps of the loop (default: longest prompt - shortest + `max_new_tokens`); a Python int
            under `jax.jit`.
        context: the model's context limit (`model.max_length` of a Transformer decoder): a prompt of n tokens
            gets at most `context - n` new ones.
        shortest: the tokens of the full pass (default: the shortest prompt's length); a Python int under `jit`.

    Returns:
        `decode`'s dict plus `new_tokens` int32 `(batch, N, max_length)`, the chosen tokens left-aligned
        ([PAD] after them), and `new_lengths` `(batch, N)`, their count (`end_id` included).
    """
    prompt_ids = ops.cast(prompt_ids, "int32")
    prompt_lengths = ops.cast(prompt_lengths, "int32")
    batch, width = ops.shape(prompt_ids)[0], ops.shape(prompt_ids)[1]
    budgets = _as_int32(max_new_tokens, batch, 0)
    if context is not None:
        budgets = ops.minimum(budgets, context - prompt_lengths)
    if getattr(model, "continues_padded_prompts", False):  # one pass; each row continues after its prompt
        # a cache as long as this batch's longest prompt + budget (traced shapes: TensorFlow only)
        slots = None
        if keras.backend.backend() == "tensorflow":
            slots = ops.maximum(ops.max(prompt_lengths + budgets), width)
            if getattr(model, "max_length", None):
                slots = ops.minimum(slots, model.max_length)
        logits, state = model(prompt_ids, return_state=True, cache_length=slots)  # (batch, P, vocab)
        last = ops.reshape(prompt_lengths - 1, (-1, 1, 1))
        first_logits = ops.take_along_axis(logits, last, axis=1)[:, 0, :]  # each prompt's last real position
        forced_ids, forced_lengths = None, ops.zeros_like(prompt_lengths)
    else:  # the shortest prompt's length in one pass, the rest forced one step a token
        if shortest is None:
            shortest = ops.min(prompt_lengths)
            if keras.backend.backend() != "tensorflow":  # static slice sizes (eager only, see Args)
                shortest = int(ops.convert_to_numpy(shortest))
        logits, state = model(ops.slice(prompt_ids, (0, 0), (batch, shortest)), return_state=True)
        first_logits = logits[:, -1, :]
        forced_lengths = prompt_lengths - shortest
        forced_ids = ops.concatenate(  # one [PAD] column keeps it non-empty
            [ops.slice(prompt_ids, (0, shortest), (batch, width - shortest)), ops.zeros((batch, 1), "int32")],
            axis=1)
    if max_length is None:
        max_length = ops.max(forced_lengths) + ops.max(budgets)
    state = keras.tree.map_structure(cache_writes.own, state)  # see `own`: the loop may write it in place

    def step_fn(ids, state):
        logits, state = model.step(ids, state)
        return logits, state, ()

    out = decode(step_fn, first_logits, state, strategy, max_length, end_id, forced_ids=forced_ids,
                 forced_lengths=forced_lengths, budgets=budgets)
    steps = ops.shape(out["tokens"])[-1]
    index = forced_lengths[:, None, None] + ops.arange(steps, dtype="int32")[None, None, :]  # (batch, 1, T)
    new_lengths = out["lengths"] - forced_lengths[:, None]  # (batch, N)
    shifted = ops.take_along_axis(out["tokens"], ops.broadcast_to(ops.minimum(index, steps - 1),
                                                                  ops.shape(out["tokens"])), axis=2)
    kept = ops.arange(steps, dtype="int32")[None, None, :] < new_lengths[:, :, None]
    return {**out, "new_tokens": ops.where(kept, shifted, PAD_ID), "new_lengths": new_lengths}
