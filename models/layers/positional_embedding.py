"""Position information added to token embeddings (sinusoidal or learned)."""

import keras
from keras import ops

from models.checks import check_choice, check_positive_int

_MODES = ("sinusoidal", "learned")


def sinusoidal_positions(length, depth, dtype="float32"):
    """The sinusoidal table of Vaswani et al. (2017), `(length, depth)`.

        PE[p, 2i]   = sin(p / 10000^(2i / depth))
        PE[p, 2i+1] = cos(p / 10000^(2i / depth))

    Args:
        length: int or scalar tensor, number of positions.
        depth: int, embedding size (odd sizes end with a sine column).
        dtype: output dtype.

    Returns:
        `(length, depth)` tensor, computed in float32 then cast to `dtype`.
    """
    return sinusoidal_at(ops.arange(length), depth, dtype)


def sinusoidal_at(positions, depth, dtype="float32"):
    """The rows `positions` of the sinusoidal table (`sinusoidal_positions`), computed for those rows only.

    Args:
        positions: int tensor of any shape `(...)`.
        depth: int, embedding size.
        dtype: output dtype.

    Returns:
        `(..., depth)` tensor, equal to `take(sinusoidal_positions(n, depth), positions, axis=0)` for any
        `n > max(positions)`.

    Example:

    >>> ops.shape(sinusoidal_at(np.array([[0, 3]]), 4))
    (1, 2, 4)
    """
    angles_at = ops.cast(positions, "float32")  # (...)
    dims = ops.arange(depth)  # (depth,)
    exponents = ops.cast(2 * (dims // 2), "float32") / float(depth)
    rates = ops.power(10000.0, -exponents)  # (depth,)
    angles = ops.expand_dims(angles_at, -1) * rates  # (..., depth)
    table = ops.where(ops.equal(dims % 2, 0), ops.sin(angles), ops.cos(angles))
    return ops.cast(table, dtype)


@keras.saving.register_keras_serializable(package="seqlab")
class PositionalEmbedding(keras.layers.Layer):
    """Adds position vectors to `(batch, time, embed_dim)` embeddings.

    `"sinusoidal"` adds the fixed table of `sinusoidal_positions` (no weights);
    `"learned"` adds rows of a trainable `(max_length, embed_dim)` matrix. The
    mask (e.g. from `Embedding(mask_zero=True)`) passes through unchanged;
    padded steps get positions too, which is harmless since everything
    downstream masks them.

    Args:
        max_length: int, the longest sequence this layer accepts.
        mode: `"sinusoidal"` or `"learned"`.
        initializer: initializer of the learned table.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, embed_dim)`, `time <= max_length`.

    Returns:
        `inputs + positions[:time]`, same shape and dtype.

    Example:

    >>> layer = PositionalEmbedding(16, mode="learned")
    >>> ops.shape(layer(np.zeros((2, 5, 8), "float32")))
    (2, 5, 8)
    """

    def __init__(self, max_length, mode="sinusoidal", initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("max_length", max_length)
        check_choice("mode", mode, _MODES)
        self.max_length = max_length
        self.mode = mode
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        time = input_shape[-2]
        if time is not None and time > self.max_length:
            raise ValueError(
                f"Expected sequences of at most max_length={self.max_length} steps. "
                f"Received: input_shape={tuple(input_shape)}. Raise `max_length` or "
                "truncate the inputs."
            )
        self.embed_dim = input_shape[-1]
        self.position_embeddings = None
        if self.mode == "learned":
            self.position_embeddings = self.add_weight(
                shape=(self.max_length, self.embed_dim),
                initializer=self.initializer,
                name="position_embeddings",
            )
        self.built = True

    def call(self, inputs):
        time = ops.shape(inputs)[-2]
        if self.position_embeddings is None:
            positions = sinusoidal_positions(time, self.embed_dim, inputs.dtype)
        else:
            positions = ops.cast(self.position_embeddings[:time], inputs.dtype)
        return inputs + positions  # (batch, time, embed_dim)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "mode": self.mode,
                "initializer": keras.initializers.serialize(self.initializer)}
