"""Masked pooling of a sequence of vectors into one vector per example."""

import keras
from keras import ops

from models.checks import check_choice
from models.layers.bahdanau_attention import large_negative, masked_softmax

_MODES = ("last", "bidirectional_last", "mean", "max", "attention")


@keras.saving.register_keras_serializable(package="seqlab")
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, time, features)` into `(batch, features)`, ignoring padding.

    Modes (`m_t` is the mask, true for real steps):

    - `"last"`: the vector at the last unpadded step (`max {t : m_t}`); the
      final state of a forward RNN.
    - `"bidirectional_last"`: for a bidirectional RNN output whose first half
      of features is the forward direction — the forward half at the last
      unpadded step concatenated with the backward half at the first unpadded
      step (position 0 with right padding), i.e. both directions' final states.
    - `"mean"`: `sum_t m_t x_t / sum_t m_t` (summed in float32).
    - `"max"`: feature-wise max over unpadded steps (padding filled with a
      dtype-safe large negative).
    - `"attention"`: `sum_t alpha_t x_t`, `alpha = softmax_t(e_t)` over
      unpadded steps only (padded weights are exactly 0), with learned scores
      `e_t = w^T x_t` (dot scoring, `attention_units=None`) or
      `e_t = v^T tanh(W x_t + b)` (additive, `attention_units=A`).

    Examples with no unpadded step pool to zeros.

    Args:
        mode: one of `"last"`, `"bidirectional_last"`, `"mean"`, `"max"`,
            `"attention"`.
        attention_units: optional int, size of the additive scoring layer
            (`"attention"` only); `None` for dot scoring.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, features)`.
        mask: optional `(batch, time)` bool or 0/1 tensor.
        return_attention_scores: bool (`"attention"` only); also return the
            float32 weights `(batch, time)`.

    Returns:
        `(batch, features)` in the compute dtype (and the weights, if asked).

    Example:

    >>> pool = SequencePooling("mean")
    >>> x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> ops.convert_to_numpy(pool(x, mask=np.array([[1, 1, 0]], bool)))  # the mean of the first two steps
    array([[1., 2.]], dtype=float32)
    """

    def __init__(self, mode="mean", attention_units=None, **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, _MODES)
        if attention_units is not None and (
            mode != "attention" or not isinstance(attention_units, int) or attention_units <= 0
        ):
            raise ValueError(
                "Expected `attention_units` to be None, or a positive int with "
                f"mode='attention'. Received: attention_units={attention_units!r}, "
                f"mode={mode!r}"
            )
        self.mode = mode
        self.attention_units = attention_units
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        if self.mode == "bidirectional_last" and features is not None and features % 2:
            raise ValueError(
                "Expected an even number of features (forward + backward halves) "
                f"for mode='bidirectional_last'. Received: input_shape={tuple(input_shape)}"
            )
        if self.mode == "attention":
            score_shape = tuple(input_shape)
            self.attention_dense = None
            if self.attention_units is not None:
                self.attention_dense = keras.layers.Dense(
                    self.attention_units,
                    activation="tanh",
                    dtype=self.dtype_policy,
                    name="attention_dense",
                )
                self.attention_dense.build(score_shape)
                score_shape = score_shape[:-1] + (self.attention_units,)
            self.score_dense = keras.layers.Dense(
                1, use_bias=False, dtype=self.dtype_policy, name="attention_score"
            )
            self.score_dense.build(score_shape)
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False):
        if return_attention_scores and self.mode != "attention":
            raise ValueError(
                "`return_attention_scores=True` needs mode='attention'. "
                f"Received: mode={self.mode!r}"
            )
        # inputs: (batch, time, features)
        if mask is None:
            mask = ops.ones_like(inputs[..., 0], dtype="bool")
        mask = ops.cast(mask, "bool")  # (batch, time)
        has_steps = ops.any(mask, axis=1, keepdims=True)  # (batch, 1)
        if self.mode in ("last", "bidirectional_last"):
            pooled = self._last(inputs, mask)
        elif self.mode == "mean":
            mask_f = ops.cast(mask, "float32")
            total = ops.sum(ops.cast(inputs, "float32") * mask_f[..., None], axis=1)
            count = ops.maximum(ops.sum(mask_f, axis=1, keepdims=True), 1.0)
            pooled = ops.cast(total / count, inputs.dtype)  # (batch, features)
        elif self.mode == "max":
            filled = ops.where(mask[..., None], inputs, large_negative(inputs.dtype))
            pooled = ops.max(filled, axis=1)  # (batch, features)
        else:
            hidden = inputs
            if self.attention_dense is not None:
                hidden = self.attention_dense(inputs)  # (batch, time, attention_units)
            scores = ops.squeeze(self.score_dense(hidden), axis=-1)  # (batch, time)
            weights = masked_softmax(scores, mask)  # float32 (batch, time)
            pooled = ops.sum(ops.cast(weights, inputs.dtype)[..., None] * inputs, axis=1)
        pooled = ops.where(has_steps, pooled, ops.zeros_like(pooled))
        return (pooled, weights) if return_attention_scores else pooled

    def _last(self, inputs, mask):
        """Selects steps with a one-hot sum (exact; no gather on dynamic indices)."""
        time = ops.shape(inputs)[1]
        positions = ops.expand_dims(ops.arange(time, dtype="int32"), 0)  # (1, time)
        last = ops.max(ops.where(mask, positions, 0), axis=1)  # (batch,)
        last_hot = ops.cast(ops.one_hot(last, time), inputs.dtype)  # (batch, time)
        forward = ops.sum(inputs * last_hot[..., None], axis=1)  # (batch, features)
        if self.mode == "last":
            return forward
        first = ops.min(ops.where(mask, positions, time - 1), axis=1)  # (batch,)
        first_hot = ops.cast(ops.one_hot(first, time), inputs.dtype)  # (batch, time)
        backward = ops.sum(inputs * first_hot[..., None], axis=1)  # (batch, features)
        half = inputs.shape[-1] // 2
        return ops.concatenate([forward[:, :half], backward[:, half:]], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "attention_units": self.attention_units}
