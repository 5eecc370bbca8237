"""Sequence classifier: embeddings + positions -> Transformer encoders -> logits."""

import keras
from keras import ops

from models.layers.positional_embedding import PositionalEmbedding
from models.layers.sequence_pooling import SequencePooling
from models.layers.transformer_encoder import TransformerEncoder
from models.checks import check_choice, check_positive_int

_POSITIONS = ("sinusoidal", "learned")
_POOLINGS = ("cls", "mean")


@keras.saving.register_keras_serializable(package="seqlab")
class TransformerClassifier(keras.Model):
    """Text classifier over right-padded token ids (`[PAD]` = 0).

    `Embedding(mask_zero=True)` + `PositionalEmbedding` -> `Dropout` ->
    `num_layers` x `TransformerEncoder` (padded keys masked) -> pooled vector
    -> `Dropout` -> `Dense(num_classes, dtype="float32")` logits.

    Pooling:

    - `"cls"`: the encoder output at position 0, which must hold the `[CLS]`
      token. The caller prepends it (see `prepend_cls`): when this family is
      configured, the transform reserves `[CLS]` right after the four fixed
      reserved tokens (`[PAD]`=0 .. 3), hence `cls_id=4` by default.
    - `"mean"`: masked mean over real tokens (no `[CLS]` needed).

    Args:
        embed_dim: int, model size.
        num_heads: int, divides `embed_dim`.
        ff_dim: int, feed-forward hidden size.
        num_layers: int, number of encoder blocks.
        max_length: int, longest input (including `[CLS]`).
        positions: `"sinusoidal"` or `"learned"`.
        pooling: `"cls"` or `"mean"`.
        cls_id: int, id of `[CLS]` (used by `prepend_cls`; `pooling="cls"`).
        add_cls: bool, `call` prepends `cls_id` itself (with `pooling="cls"`),
            so callers pass plain token ids. The pipeline's trainer uses this
            with `cls_id = vocab_size - 1`: a `[CLS]` row owned by the model,
            outside the transform's vocabulary.
        vocab_size, num_classes, dropout, **kwargs: as in `RNNClassifier`.

    Call arguments, returns: as in `RNNClassifier`; for `pooling="cls"` without `add_cls` the token ids
    start with `cls_id`.

    Example:

    >>> model = TransformerClassifier(100, 3, embed_dim=8, num_heads=2,
    ...                               ff_dim=16, max_length=16)
    >>> ids = model.prepend_cls(np.array([[5, 9, 7, 0], [8, 0, 0, 0]]))
    >>> ops.shape(model(ids))
    (2, 3)
    """

    def __init__(
        self,
        vocab_size,
        num_classes,
        embed_dim=64,
        num_heads=4,
        ff_dim=128,
        num_layers=2,
        max_length=512,
        positions="sinusoidal",
        pooling="cls",
        dropout=0.1,
        cls_id=4,
        add_cls=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("positions", positions, _POSITIONS)
        check_choice("pooling", pooling, _POOLINGS)
        check_positive_int("num_layers", num_layers)
        if not isinstance(cls_id, int) or not 0 < cls_id < vocab_size:
            raise ValueError(
                f"Expected `cls_id` to be a non-padding id in [1, vocab_size={vocab_size}). "
                f"Received: cls_id={cls_id!r}"
            )
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.num_layers = num_layers
        self.max_length = max_length
        self.positions = positions
        self.pooling = pooling
        self.dropout = dropout
        self.cls_id = cls_id
        self.add_cls = add_cls
        policy = self.dtype_policy

        self.token_embedding = keras.layers.Embedding(
            vocab_size, embed_dim, mask_zero=True, dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionalEmbedding(
            max_length, mode=positions, dtype=policy, name="position_embedding"
        )
        self.encoders = [
            TransformerEncoder(
                embed_dim, num_heads, ff_dim, dropout=dropout, dtype=policy,
                name=f"encoder_{i}",
            )  # validates embed_dim % num_heads
            for i in range(num_layers)
        ]
        self.mean_pool = None
        if pooling == "mean":
            self.mean_pool = SequencePooling("mean", dtype=policy, name="pooling")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.logits_dense = keras.layers.Dense(num_classes, dtype="float32", name="logits")

    def prepend_cls(self, token_ids):
        """Returns `[cls_id] + token_ids` per row, `(batch, time + 1)` int32."""
        token_ids = ops.cast(token_ids, "int32")
        cls = ops.full_like(token_ids[:, :1], self.cls_id)  # (batch, 1)
        return ops.concatenate([cls, token_ids], axis=1)

    def build(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        features_shape = (batch, time, self.embed_dim)
        self.token_embedding.build(input_shape)
        self.position_embedding.build(features_shape)
        for encoder in self.encoders:
            encoder.build(features_shape)
        if self.mean_pool is not None:
            self.mean_pool.build(features_shape)
        self.logits_dense.build((batch, self.embed_dim))
        self.built = True

    def call(self, inputs, training=False):
        if self.add_cls and self.pooling == "cls":
            inputs = self.prepend_cls(inputs)  # (batch, time + 1)
        mask = ops.not_equal(inputs, 0)  # (batch, time)
        x = self.token_embedding(inputs)  # (batch, time, embed_dim)
        x = self.position_embedding(x)
        x = self.dropout_layer(x, training=training)
        for encoder in self.encoders:
            x = encoder(x, mask=mask, training=training)  # (batch, time, embed_dim)
        if self.mean_pool is not None:
            pooled = self.mean_pool(x, mask=mask)  # (batch, embed_dim)
        else:
            pooled = x[:, 0, :]  # (batch, embed_dim), the [CLS] position
        pooled = self.dropout_layer(pooled, training=training)
        return self.logits_dense(pooled)  # (batch, num_classes) float32

    def get_config(self):
        names = ("vocab_size", "num_classes", "embed_dim", "num_heads", "ff_dim", "num_layers", "max_length",
                 "positions", "pooling", "dropout", "cls_id", "add_cls")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
