"""Character-level word encoder: char CNN with max-pooling over characters."""

import keras
from keras import ops

from models.checks import check_positive_int
from models.layers.bahdanau_attention import large_negative


@keras.saving.register_keras_serializable(package="seqlab")
class CharWordEncoder(keras.layers.Layer):
    """Encodes each word from its characters (Ma & Hovy, 2016 style char CNN).

    For each word: embed its characters, run a 1-D convolution over them
    (`padding="same"`, as a `(1, kernel_size)` `Conv2D` over
    `(batch, time, chars, embed)` so no reshape is needed), and max-pool over
    the unpadded characters:

        h_w = max_{c real} act(W * [emb(char_{c-k//2}) .. emb(char_{c+k//2})] + b)

    Char id 0 is `[PAD]`. Padded characters are zeroed before the convolution
    (so they look exactly like the convolution's own zero padding) and
    excluded from the max, so extra character padding never changes the
    output. Words without any character (padded words) encode to zeros.

    Args:
        char_vocab_size: int, number of character ids (0 is padding).
        embed_dim: int, character embedding size.
        filters: int, output size `D` (number of convolution filters).
        kernel_size: int, convolution width in characters.
        activation: activation of the convolution (name or callable).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        char_ids: int `(batch, time, chars)`, right-padded with 0.

    Returns:
        `(batch, time, filters)` in the compute dtype, with a `(batch, time)`
        mask (true for words with at least one character).

    Example:

    >>> encoder = CharWordEncoder(30, embed_dim=8, filters=16)
    >>> chars = np.array([[[3, 4, 0], [5, 0, 0], [0, 0, 0]]])
    >>> ops.shape(encoder(chars))
    (1, 3, 16)
    """

    def __init__(
        self,
        char_vocab_size,
        embed_dim=16,
        filters=32,
        kernel_size=3,
        activation="tanh",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("char_vocab_size", char_vocab_size), ("embed_dim", embed_dim), ("filters", filters),
                            ("kernel_size", kernel_size)):
            check_positive_int(name, value)
        self.char_vocab_size = char_vocab_size
        self.embed_dim = embed_dim
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = keras.activations.get(activation)
        self.supports_masking = True

    def build(self, char_ids_shape):
        self.char_embedding = keras.layers.Embedding(
            self.char_vocab_size, self.embed_dim, dtype=self.dtype_policy,
            name="char_embedding",
        )
        self.char_embedding.build(char_ids_shape)
        self.char_conv = keras.layers.Conv2D(
            self.filters, (1, self.kernel_size), padding="same",
            activation=self.activation, dtype=self.dtype_policy, name="char_conv",
        )
        self.char_conv.build(tuple(char_ids_shape) + (self.embed_dim,))
        self.built = True

    def call(self, char_ids):
        char_mask = ops.not_equal(char_ids, 0)  # (batch, time, chars)
        x = self.char_embedding(char_ids)  # (batch, time, chars, embed_dim)
        x = x * ops.expand_dims(ops.cast(char_mask, x.dtype), -1)
        x = self.char_conv(x)  # (batch, time, chars, filters)
        x = ops.where(ops.expand_dims(char_mask, -1), x, large_negative(x.dtype))
        pooled = ops.max(x, axis=2)  # (batch, time, filters)
        word_mask = ops.any(char_mask, axis=2)  # (batch, time)
        return ops.where(ops.expand_dims(word_mask, -1), pooled, ops.zeros_like(pooled))

    def compute_mask(self, char_ids, mask=None):
        return ops.any(ops.not_equal(char_ids, 0), axis=2)  # (batch, time)

    def compute_output_shape(self, char_ids_shape):
        return tuple(char_ids_shape[:2]) + (self.filters,)

    def get_config(self):
        names = ("char_vocab_size", "embed_dim", "filters", "kernel_size")
        return {**super().get_config(), **{name: getattr(self, name) for name in names},
                "activation": keras.activations.serialize(self.activation)}
