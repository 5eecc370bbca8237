"""Transformer-encoder sequence tagger with a softmax or CRF output."""

import keras

from models.layers.positional_embedding import PositionalEmbedding
from models.layers.transformer_encoder import TransformerEncoder
from models.checks import check_positive_int
from models.networks.tagging_head import TaggingHead


@keras.saving.register_keras_serializable(package="seqlab")
class TransformerTagger(TaggingHead, keras.Model):
    """Token tagger: embeddings [+ char CNN or BiLSTM] + positions -> Transformer encoders -> per-token scores.

    The Transformer-family counterpart of `RNNTagger`. With a character encoder the word features are
    projected back to `embed_dim` before the positions are added. Call arguments, returns, loss and
    `predict_tags`: as `TaggingHead` says.

    Args:
        num_heads: int, divides `embed_dim` (here the model size).
        ff_dim: int, feed-forward hidden size.
        num_layers: int, number of encoder blocks.
        max_length: int, longest sentence in tokens.
        positions: `"sinusoidal"` or `"learned"`.
        vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim, char_filters,
            tag_names, bio_constraints, word_dropout, char_encoder: the arguments every tagger takes (`TaggingHead`).
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = TransformerTagger(50, 5, embed_dim=8, num_heads=2, ff_dim=16, max_length=16)
    >>> ops.shape(model(np.array([[4, 7, 9, 0], [3, 0, 0, 0]])))
    (2, 4, 5)
    """

    def __init__(
        self,
        vocab_size,
        num_tags,
        embed_dim=64,
        num_heads=4,
        ff_dim=128,
        num_layers=2,
        max_length=256,
        positions="sinusoidal",
        dropout=0.1,
        output="softmax",
        char_vocab_size=0,
        char_embed_dim=16,
        char_filters=32,
        tag_names=None,
        bio_constraints=False,
        word_dropout=0.0,
        char_encoder="cnn",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_layers", num_layers)
        self._init_head(vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim,
                        char_filters, tag_names, bio_constraints, word_dropout, char_encoder=char_encoder)
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.num_layers = num_layers
        self.max_length = max_length
        self.positions = positions
        policy = self.dtype_policy
        self.char_projection = None
        if char_vocab_size > 0:  # word + char features back to the model size
            self.char_projection = keras.layers.Dense(embed_dim, dtype=policy, name="char_projection")
        self.position_embedding = PositionalEmbedding(max_length, mode=positions, dtype=policy, name="positions")
        self.encoders = [
            TransformerEncoder(embed_dim, num_heads, ff_dim, dropout=dropout, dtype=policy, name=f"encoder_{i}")
            for i in range(num_layers)
        ]

    def build(self, input_shape):
        batch, time = self._build_inputs(input_shape)
        features_shape = (batch, time, self.embed_dim)
        if self.char_projection is not None:
            self.char_projection.build((batch, time, self.embed_dim + self.char_filters))
        self.position_embedding.build(features_shape)
        for encoder in self.encoders:
            encoder.build(features_shape)
        self._build_outputs(batch, time, self.embed_dim)

    def call(self, inputs, training=False):
        x, mask = self._embed(inputs, training)  # (batch, time, features), (batch, time)
        if self.char_projection is not None:
            x = self.char_projection(x)  # (batch, time, embed_dim)
        x = self.position_embedding(x)
        x = self.dropout_layer(x, training=training)
        for encoder in self.encoders:
            x = encoder(x, mask=mask, training=training)  # (batch, time, embed_dim)
        x = self.dropout_layer(x, training=training)
        return self.scores_dense(x)  # (batch, time, num_tags) float32

    def get_config(self):
        names = ("num_heads", "ff_dim", "num_layers", "max_length", "positions")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
