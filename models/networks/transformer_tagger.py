"""Transformer-encoder sequence tagger with a softmax or CRF output."""

import keras
from keras import ops

from models.layers.positional_embedding import PositionalEmbedding
from models.layers.transformer_encoder import TransformerEncoder
from models.checks import check_positive_int
from models.networks.tagging_head import TaggingHead



@keras.saving.register_keras_serializable(package="seqlab")
class TransformerTagger(TaggingHead, keras.Model):
    """Token tagger: embeddings [+ char CNN] + positions -> Transformer encoders -> per-token scores.

    The Transformer-family counterpart of `RNNTagger`, with the same inputs,
    outputs, loss (`compute_loss`: softmax cross-entropy or CRF NLL per real
    token) and `predict_tags`. With a character encoder the word features are
    projected back to `embed_dim` before the positions are added.

    Args:
        vocab_size: int, word vocabulary size (id 0 is `[PAD]`).
        num_tags: int, number of tags (id 0 is the `[PAD]` tag).
        embed_dim: int, model size.
        num_heads: int, divides `embed_dim`.
        ff_dim: int, feed-forward hidden size.
        num_layers: int, number of encoder blocks.
        max_length: int, longest sentence in tokens.
        positions: `"sinusoidal"` or `"learned"`.
        dropout: float in [0, 1).
        output: `"softmax"` or `"crf"`.
        char_vocab_size, char_embed_dim, char_filters: the optional character
            encoder, as in `RNNTagger` (0 disables it).
        tag_names, bio_constraints, word_dropout: as in `RNNTagger`.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = TransformerTagger(50, 5, embed_dim=8, num_heads=2, ff_dim=16, max_length=16)
    >>> model(np.array([[4, 7, 9, 0], [3, 0, 0, 0]])).shape
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_layers", num_layers)
        self._init_head(vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim,
                        char_filters, tag_names, bio_constraints, word_dropout)
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
        word_shape, char_shape = self._split_inputs(input_shape, shapes=True)
        batch, time = word_shape[0], word_shape[1]
        features_shape = (batch, time, self.embed_dim)
        self.word_embedding.build(word_shape)
        if char_shape is not None:
            self.char_encoder.build(char_shape)
            self.char_projection.build((batch, time, self.embed_dim + self.char_filters))
        self.position_embedding.build(features_shape)
        for encoder in self.encoders:
            encoder.build(features_shape)
        self.scores_dense.build(features_shape)
        if self.crf is not None:
            self.crf.build((batch, time, self.num_tags))
        self.built = True

    def call(self, inputs, training=False):
        word_ids, char_ids = self._split_inputs(inputs)
        mask = ops.not_equal(word_ids, 0)  # (batch, time)
        x = self.word_embedding(self._drop_words(word_ids, training))  # (batch, time, embed_dim)
        if char_ids is not None:
            chars = self.char_encoder(char_ids)  # (batch, time, char_filters)
            x = self.char_projection(ops.concatenate([x, ops.cast(chars, x.dtype)], axis=-1))
        x = self.position_embedding(x)
        x = self.dropout_layer(x, training=training)
        for encoder in self.encoders:
            x = encoder(x, mask=mask, training=training)  # (batch, time, embed_dim)
        x = self.dropout_layer(x, training=training)
        return self.scores_dense(x)  # (batch, time, num_tags) float32

    def get_config(self):
        config = super().get_config()
        config.update(self._head_config())
        config.update({"num_heads": self.num_heads, "ff_dim": self.ff_dim, "num_layers": self.num_layers,
                       "max_length": self.max_length, "positions": self.positions})
        return config
