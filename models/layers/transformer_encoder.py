"""One Transformer encoder block: post-LayerNorm (Vaswani et al., 2017) or pre-LayerNorm."""

import keras
from keras import ops

from models.checks import check_heads, check_last_dim, check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="seqlab")
class TransformerEncoder(keras.layers.Layer):
    """Self-attention + feed-forward block with residuals and LayerNorm.

        a = LayerNorm(x + Dropout(MultiHeadSelfAttention(x, mask)))
        y = LayerNorm(a + Dropout(W_2 act(W_1 a + b_1) + b_2))

    or with `norm_first=True` (pre-LN, the norms inside the residual branches;
    the stack needs one final LayerNorm, as `TransformerSeq2Seq` adds):

        a = x + Dropout(MultiHeadSelfAttention(LayerNorm(x), mask))
        y = a + Dropout(W_2 act(W_1 LayerNorm(a) + b_1) + b_2)

    The padding mask becomes the attention mask `(batch, 1, time)`: no query
    attends to a padded key (its weight is exactly 0), so the outputs at real
    steps do not depend on padding. Outputs at padded steps are computed but
    meaningless; the mask passes through to the output for the next layer.

    Args:
        embed_dim: int, model size (the inputs' last dimension).
        num_heads: int, must divide `embed_dim` (head size `embed_dim // num_heads`).
        ff_dim: int, hidden size of the feed-forward network.
        dropout: float in [0, 1), on attention weights and both residual branches.
        activation: feed-forward activation (default `"relu"`).
        layer_norm_epsilon: float.
        norm_first: bool, pre-LN instead of post-LN (see `CausalDecoderBlock` for why).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, embed_dim)`.
        mask: optional `(batch, time)` bool or 0/1 tensor, true for real steps.
        training: bool.
        return_attention_scores: bool; also return the weights
            `(batch, num_heads, time, time)`.

    Returns:
        `(batch, time, embed_dim)` in the compute dtype (and the weights).

    Example:

    >>> block = TransformerEncoder(embed_dim=8, num_heads=2, ff_dim=16)
    >>> ops.shape(block(np.random.rand(2, 5, 8).astype("float32")))
    (2, 5, 8)
    """

    def __init__(
        self,
        embed_dim,
        num_heads,
        ff_dim,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        norm_first=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads), ("ff_dim", ff_dim)):
            check_positive_int(name, value)
        check_heads(embed_dim, num_heads)
        check_rate("dropout", dropout)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_first = bool(norm_first)
        self.supports_masking = True

    def build(self, input_shape):
        check_last_dim(input_shape, "embed_dim", self.embed_dim)
        policy = self.dtype_policy
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            self.embed_dim // self.num_heads,
            dropout=self.dropout,
            dtype=policy,
            name="self_attention",
        )
        self.attention.build(input_shape, input_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=policy, name="attention_dropout"
        )
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="attention_norm"
        )
        self.attention_norm.build(input_shape)
        self.ff_inner = keras.layers.Dense(
            self.ff_dim, activation=self.activation, dtype=policy, name="ff_inner"
        )
        self.ff_inner.build(input_shape)
        self.ff_outer = keras.layers.Dense(self.embed_dim, dtype=policy, name="ff_outer")
        self.ff_outer.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ff_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="ff_dropout")
        self.ff_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ff_norm"
        )
        self.ff_norm.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        # inputs: (batch, time, embed_dim)
        attention_mask = None
        if mask is not None:
            # (batch, 1, time): every query sees only the real keys.
            attention_mask = ops.expand_dims(ops.cast(mask, "bool"), 1)
        normed = self.attention_norm(inputs) if self.norm_first else inputs
        attended, weights = self.attention(
            normed,
            normed,
            attention_mask=attention_mask,
            return_attention_scores=True,
            training=training,
        )  # (batch, time, embed_dim), (batch, num_heads, time, time)
        attended = self.attention_dropout(attended, training=training)
        if self.norm_first:
            x = inputs + attended  # (batch, time, embed_dim)
            hidden = self.ff_outer(self.ff_inner(self.ff_norm(x)))  # (batch, time, embed_dim)
            outputs = x + self.ff_dropout(hidden, training=training)  # (batch, time, embed_dim)
        else:
            x = self.attention_norm(inputs + attended)  # (batch, time, embed_dim)
            hidden = self.ff_outer(self.ff_inner(x))  # (batch, time, embed_dim)
            outputs = self.ff_norm(x + self.ff_dropout(hidden, training=training))  # (batch, time, embed_dim)
        return (outputs, weights) if return_attention_scores else outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        names = ("embed_dim", "num_heads", "ff_dim", "dropout", "layer_norm_epsilon", "norm_first")
        return {**super().get_config(), **{name: getattr(self, name) for name in names},
                "activation": keras.activations.serialize(self.activation)}
