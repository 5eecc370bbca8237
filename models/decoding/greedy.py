"""Greedy decoding for encoder-decoder models with a step function."""

from keras import ops


def greedy_decode(model, source_ids, max_length: int, start_id: int = 2, end_id: int = 3):
    """Greedy (argmax) decoding with fixed-size buffers, graph-friendly.

    The loop is a `keras.ops.fori_loop` over `max_length` steps; step `i` is
    written into preallocated buffers with a one-hot position mask, so the
    function traces with unknown batch size and source length (e.g. inside a
    `tf.function` serving signature) and runs eagerly on TensorFlow and JAX.

    Args:
        model: an object with `encode(source_ids, training=False) -> states`
            and `decode_step(prev_ids, states) -> (logits (batch, vocab),
            new_states, attention_weights (batch, source_len))`, e.g.
            `AttentionSeq2Seq`.
        source_ids: int `(batch, source_len)`, right-padded with 0.
        max_length: int, number of decoding steps (Python int).
        start_id: int, id fed at the first step (`[START]`).
        end_id: int, id that finishes a sequence (`[END]`).

    Returns:
        A dict with
        - `tokens`: int32 `(batch, max_length)`; `end_id` is included and
          every position after it is 0 (`[PAD]`).
        - `lengths`: int32 `(batch,)`, tokens up to and including `[END]`,
          or `max_length` if no `[END]` was produced.
        - `scores`: float32 `(batch,)`, sum of the log-probabilities of the
          emitted tokens up to and including `[END]`.
        - `alignments`: float32 `(batch, max_length, source_len)`, attention
          weights of each emitted token (zeros after `[END]`).

    Example:

    >>> out = greedy_decode(model, np.array([[5, 6, 7, 0]]), max_length=6)
    >>> out["tokens"].shape, out["alignments"].shape
    ((1, 6), (1, 6, 4))
    """
    if not isinstance(max_length, int) or max_length <= 0:
        raise ValueError(
            "Expected `max_length` to be a positive Python int. "
            f"Received: max_length={max_length!r}"
        )
    source_ids = ops.convert_to_tensor(source_ids)
    states = list(model.encode(source_ids, training=False))
    batch = ops.shape(source_ids)[0]
    source_len = ops.shape(source_ids)[1]
    positions = ops.arange(max_length, dtype="int32")  # (max_length,)

    init = (
        ops.full((batch,), start_id, dtype="int32"),  # prev_ids
        states,
        ops.zeros((batch, max_length), dtype="int32"),  # tokens
        ops.zeros((batch,), dtype="float32"),  # scores
        ops.full((batch,), max_length, dtype="int32"),  # lengths
        ops.zeros((batch,), dtype="bool"),  # finished
        ops.zeros((batch, max_length, source_len), dtype="float32"),  # alignments
    )

    def body(i, carry):
        prev_ids, states, tokens, scores, lengths, finished, alignments = carry
        i = ops.cast(i, "int32")
        logits, new_states, weights = model.decode_step(prev_ids, states)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        # log_probs: (batch, vocab)
        next_ids = ops.cast(ops.argmax(log_probs, axis=-1), "int32")  # (batch,)
        next_ids = ops.where(finished, 0, next_ids)
        token_log_prob = ops.take_along_axis(
            log_probs, ops.expand_dims(next_ids, -1), axis=-1
        )[:, 0]  # (batch,)
        active_f = 1.0 - ops.cast(finished, "float32")  # (batch,)
        scores = scores + token_log_prob * active_f
        at_i = ops.cast(ops.equal(positions, i), "int32")  # (max_length,)
        tokens = tokens + ops.expand_dims(at_i, 0) * ops.expand_dims(next_ids, 1)
        step_weights = ops.cast(weights, "float32") * ops.expand_dims(active_f, 1)
        alignments = alignments + (
            ops.cast(at_i, "float32")[None, :, None] * step_weights[:, None, :]
        )  # (batch, max_length, source_len)
        just_ended = ops.logical_and(
            ops.logical_not(finished), ops.equal(next_ids, end_id)
        )
        lengths = ops.where(just_ended, i + 1, lengths)
        finished = ops.logical_or(finished, just_ended)
        new_states = [
            ops.cast(new, old.dtype) for new, old in zip(new_states, states)
        ]
        return (next_ids, new_states, tokens, scores, lengths, finished, alignments)

    _, _, tokens, scores, lengths, _, alignments = ops.fori_loop(
        0, max_length, body, init
    )
    return {
        "tokens": tokens,
        "lengths": lengths,
        "scores": scores,
        "alignments": alignments,
    }
