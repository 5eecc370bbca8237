"""Sequence classifier: embeddings -> (Bi)RNN stack -> masked pooling -> logits."""

import keras
from keras import ops

from models.layers.rnn_stack import RNNStack
from models.layers.sequence_pooling import SequencePooling
from models.checks import check_choice, check_rate

_POOLINGS = ("last", "bidirectional_last", "mean", "max", "attention")


@keras.saving.register_keras_serializable(package="seqlab")
class RNNClassifier(keras.Model):
    """Text classifier over right-padded token ids (`[PAD]` = 0).

    `Embedding(mask_zero=True)` -> `RNNStack` (cuDNN-eligible defaults,
    orthogonal recurrent kernels, LSTM forget bias 1) -> `SequencePooling`
    (padding ignored) -> `Dropout` -> `Dense(num_classes, dtype="float32")`.
    Returns float32 logits; train with
    `SparseCategoricalCrossentropy(from_logits=True)`.

    With `bidirectional=True` use `pooling="bidirectional_last"` (both
    directions' final states) rather than `"last"` (whose backward half has
    seen only the last token).

    Args:
        vocab_size: int, token vocabulary size (id 0 is `[PAD]`).
        num_classes: int, number of labels.
        embed_dim: int, token embedding size.
        units: int, recurrent size of each direction.
        cell: `"lstm"`, `"gru"` or `"simple"`.
        num_layers: int, number of stacked recurrent layers.
        bidirectional: bool.
        pooling: `"last"`, `"bidirectional_last"`, `"mean"`, `"max"` or
            `"attention"`.
        dropout: float in [0, 1), on the embeddings, between recurrent layers
            and on the pooled vector.
        attention_units: optional int, additive scoring size for
            `pooling="attention"` (`None`: dot scoring).
        **kwargs: standard `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        inputs: token ids `(batch, time)`, ints right-padded with 0.
        training: bool.

    Returns:
        float32 logits `(batch, num_classes)`.

    Example:

    >>> model = RNNClassifier(100, 3, embed_dim=8, units=8, bidirectional=True)
    >>> ops.shape(model(np.array([[5, 9, 2, 0], [7, 0, 0, 0]])))
    (2, 3)
    """

    def __init__(
        self,
        vocab_size,
        num_classes,
        embed_dim=64,
        units=128,
        cell="lstm",
        num_layers=1,
        bidirectional=True,
        pooling="bidirectional_last",
        dropout=0.0,
        attention_units=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("pooling", pooling, _POOLINGS)
        if pooling == "bidirectional_last" and not bidirectional:
            raise ValueError(
                "pooling='bidirectional_last' needs a bidirectional RNN. Received: "
                "bidirectional=False. Use pooling='last' or bidirectional=True."
            )
        check_rate("dropout", dropout)
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.units = units
        self.cell = cell
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.dropout = dropout
        self.attention_units = attention_units
        policy = self.dtype_policy

        self.token_embedding = keras.layers.Embedding(
            vocab_size, embed_dim, mask_zero=True, dtype=policy, name="token_embedding"
        )
        self.encoder = RNNStack(
            units, cell=cell, num_layers=num_layers, bidirectional=bidirectional,
            dropout=dropout, dtype=policy, name="encoder",
        )  # validates cell / num_layers
        self.pool = SequencePooling(
            pooling,
            attention_units=attention_units if pooling == "attention" else None,
            dtype=policy, name="pooling",
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.logits_dense = keras.layers.Dense(num_classes, dtype="float32", name="logits")

    def build(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        self.token_embedding.build(input_shape)
        self.encoder.build((batch, time, self.embed_dim))
        rnn_dim = self.encoder.output_dim
        self.pool.build((batch, time, rnn_dim))
        self.logits_dense.build((batch, rnn_dim))
        self.built = True

    def call(self, inputs, training=False):
        mask = ops.not_equal(inputs, 0)  # (batch, time)
        x = self.token_embedding(inputs)  # (batch, time, embed_dim)
        x = self.dropout_layer(x, training=training)
        x = self.encoder(x, mask=mask, training=training)  # (batch, time, rnn_dim)
        pooled = self.pool(x, mask=mask)  # (batch, rnn_dim)
        pooled = self.dropout_layer(pooled, training=training)
        return self.logits_dense(pooled)  # (batch, num_classes) float32

    def get_config(self):
        names = ("vocab_size", "num_classes", "embed_dim", "units", "cell", "num_layers", "bidirectional", "pooling",
                 "dropout", "attention_units")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
