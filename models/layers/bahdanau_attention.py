"""Additive (Bahdanau) attention over an encoder memory."""

import keras
from keras import ops

from models.checks import check_positive_int

# Largest finite value of each floating dtype; masked scores are filled with
# `-0.7 * max` so that adding a few of them can never overflow to -inf/NaN.
_FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}


def large_negative(dtype):
    """A large negative number that is safe to use as a mask fill in `dtype`.

    Args:
        dtype: a floating dtype (string or backend dtype).

    Returns:
        A Python float, `-0.7 * max(dtype)`.

    Example:

    >>> round(large_negative("float16"), 1)
    -45852.8
    """
    name = keras.backend.standardize_dtype(dtype)
    if name not in _FLOAT_MAX:
        raise ValueError(
            f"Expected a floating dtype. Received: dtype={name}. "
            f"Use one of {sorted(_FLOAT_MAX)}."
        )
    return -0.7 * _FLOAT_MAX[name]


def masked_softmax(scores, mask=None):
    """Softmax over the last axis, in float32, ignoring masked positions.

    Masked positions get exactly zero weight; a row with no unmasked position
    gets all-zero weights (instead of a uniform distribution over padding).

    Args:
        scores: float tensor `(..., source_len)`.
        mask: optional boolean-like tensor broadcastable to `scores`,
            true/nonzero for positions that may be attended to.

    Returns:
        float32 tensor of the same shape as `scores`.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    scores = ops.where(mask, scores, large_negative("float32"))
    weights = ops.softmax(scores, axis=-1)
    return weights * ops.cast(mask, "float32")


@keras.saving.register_keras_serializable(package="seqlab")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau et al. (2015).

    For a decoder query `s` (the previous decoder state) and encoder memory
    `h_1..h_S`:

        e_j     = v^T tanh(W_s s + W_h h_j)
        alpha_j = softmax_j(e_j)         (over unpadded source positions only)
        c       = sum_j alpha_j h_j

    `W_h h` does not depend on the decoder step, so a decoder should compute it
    once with `precompute_keys(memory)` and pass it as `keys=` at every step.
    Scores and weights are computed in float32; padded positions receive
    exactly zero weight.

    Args:
        units: int, size of the attention space (rows of `W_s`, `W_h`, `v`).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, query_dim)` for one decoder step, or
            `(batch, target_len, query_dim)` for many queries at once.
        memory: `(batch, source_len, memory_dim)` encoder outputs.
        mask: optional `(batch, source_len)` bool or 0/1 float tensor, true
            for real (non-padding) source positions.
        keys: optional `(batch, source_len, units)`, the result of
            `precompute_keys(memory)`; computed here when omitted.
        return_attention_scores: bool; if true, also return the weights.

    Returns:
        context `(batch, memory_dim)` (or `(batch, target_len, memory_dim)`)
        in the compute dtype, and, if requested, float32 weights
        `(batch, source_len)` (or `(batch, target_len, source_len)`).

    Example:

    >>> layer = BahdanauAttention(8)
    >>> query = np.random.rand(2, 6).astype("float32")
    >>> memory = np.random.rand(2, 5, 4).astype("float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    >>> context, weights = layer(
    ...     query, memory, mask=mask, return_attention_scores=True)
    >>> ops.shape(context), ops.shape(weights)
    ((2, 4), (2, 5))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        self.units = units
        # The context is never masked (one per query); declaring support
        # keeps Keras from warning about masks attached to the memory/query.
        self.supports_masking = True

    def build(self, query_shape, memory_shape):
        self.query_dense = keras.layers.Dense(
            self.units, use_bias=False, dtype=self.dtype_policy, name="query_dense"
        )
        self.query_dense.build(query_shape)
        self.key_dense = keras.layers.Dense(
            self.units, use_bias=False, dtype=self.dtype_policy, name="key_dense"
        )
        self.key_dense.build(memory_shape)
        self.score_dense = keras.layers.Dense(
            1, use_bias=False, dtype=self.dtype_policy, name="score_dense"
        )
        self.score_dense.build(tuple(memory_shape[:-1]) + (self.units,))
        self.built = True

    def precompute_keys(self, memory):
        """Returns `W_h h`, shape `(batch, source_len, units)`."""
        return self.key_dense(memory)

    def call(
        self,
        query,
        memory,
        mask=None,
        keys=None,
        return_attention_scores=False,
    ):
        if keys is None:
            keys = self.key_dense(memory)  # (batch, source_len, units)
        projected_query = self.query_dense(query)
        single_step = len(query.shape) == 2
        if single_step:
            # (batch, 1, units) + (batch, source_len, units)
            hidden = ops.tanh(ops.expand_dims(projected_query, 1) + keys)
        else:
            # (batch, target_len, 1, units) + (batch, 1, source_len, units)
            hidden = ops.tanh(
                ops.expand_dims(projected_query, 2) + ops.expand_dims(keys, 1)
            )
        scores = ops.squeeze(self.score_dense(hidden), axis=-1)
        # scores: (batch, source_len) or (batch, target_len, source_len)
        if mask is not None:
            mask = ops.cast(mask, "bool")  # (batch, source_len)
            if not single_step:
                mask = ops.expand_dims(mask, 1)  # (batch, 1, source_len)
        weights = masked_softmax(scores, mask)  # float32, same shape as scores
        weights_c = ops.cast(weights, memory.dtype)
        if single_step:
            # (batch, 1, source_len) @ (batch, source_len, memory_dim)
            context = ops.squeeze(
                ops.matmul(ops.expand_dims(weights_c, 1), memory), axis=1
            )  # (batch, memory_dim)
        else:
            context = ops.matmul(weights_c, memory)  # (batch, target_len, memory_dim)
        return (context, weights) if return_attention_scores else context

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, query_shape, memory_shape):
        return tuple(query_shape[:-1]) + (memory_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
