"""(Bi)LSTM sequence tagger with a softmax or CRF output (BiLSTM-CRF)."""

import keras
from keras import ops

from models.checks import check_choice, check_positive_int
from models.networks.tagging_head import TaggingHead

_CELLS = ("gru", "lstm")


@keras.saving.register_keras_serializable(package="seqlab")
class RNNTagger(TaggingHead, keras.Model):
    """Token tagger: embeddings [+ char CNN] -> (Bi)RNN stack -> per-token scores.

    `Embedding(mask_zero=True)` of the word ids, concatenated with a
    `CharWordEncoder` of the character ids when `char_vocab_size > 0`, then
    `num_layers` (bidirectional) LSTM/GRU layers with cuDNN-eligible defaults
    (dropout between layers, never recurrent dropout), then
    `Dense(num_tags, dtype="float32")` scores. With `output="crf"` the scores
    are the emissions of a `CRF` layer (float32 whatever the policy).

    Training: `call` returns the float32 scores `(batch, time, num_tags)` —
    softmax logits or CRF emissions. Compile with **no loss**: `compute_loss`
    supplies the tagging loss per real token (`TaggingHead.tagging_loss`; a
    loss given to `compile` wins). Tag ids are what `predict_tags` returns
    (argmax or Viterbi, 0 at padding); `model.predict` returns the scores.

    Args:
        vocab_size: int, word vocabulary size (id 0 is `[PAD]`).
        num_tags: int, number of tags (id 0 is the `[PAD]` tag).
        embed_dim: int, word embedding size.
        units: int, recurrent size of each direction.
        cell: `"lstm"` or `"gru"`.
        num_layers: int, number of stacked recurrent layers.
        bidirectional: bool.
        dropout: float in [0, 1), on the features, between layers and before
            the output layer.
        output: `"softmax"` or `"crf"` (stored as `output_type`, since
            `keras.Model.output` is a read-only property).
        char_vocab_size: int, character vocabulary size; 0 disables the
            character encoder (then inputs are word ids only).
        char_embed_dim: int, character embedding size.
        char_filters: int, size of the character-level word features.
        tag_names: optional list of `num_tags` tag names (`["[PAD]", "O",
            "B-PER", ...]`), needed for `bio_constraints`.
        bio_constraints: bool, forbid invalid BIO transitions in the CRF.
        word_dropout: float in [0, 1), training only: a real word id becomes
            `[UNK]` with this probability (the characters still see the word).
        **kwargs: standard `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        inputs: word ids `(batch, time)`, or, with a character encoder, a
            tuple `(word_ids (batch, time), char_ids (batch, time, chars))`;
            ints right-padded with 0.
        training: bool.

    Returns:
        float32 scores `(batch, time, num_tags)`.

    Example:

    >>> model = RNNTagger(50, 5, embed_dim=8, units=8, output="crf")
    >>> words = np.array([[4, 7, 9, 0], [3, 0, 0, 0]])
    >>> model(words).shape
    (2, 4, 5)
    >>> model.compile(optimizer="adam")  # no loss: the CRF NLL is used
    >>> model.predict_tags(words).shape
    (2, 4)
    """

    def __init__(
        self,
        vocab_size,
        num_tags,
        embed_dim=64,
        units=128,
        cell="lstm",
        num_layers=1,
        bidirectional=True,
        dropout=0.0,
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
        self._validate(cell, num_layers)
        self._init_head(vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim,
                        char_filters, tag_names, bio_constraints, word_dropout)
        self.units = units
        self.cell = cell
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        policy = self.dtype_policy
        rnn_class = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
        rnn_kwargs = {"unit_forget_bias": True} if cell == "lstm" else {}
        self.rnns = []
        for i in range(num_layers):
            rnn = rnn_class(
                units, return_sequences=True, recurrent_initializer="orthogonal",
                dtype=policy, name=f"{cell}_{i}", **rnn_kwargs,
            )
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, dtype=policy, name=f"bidirectional_{i}")
            self.rnns.append(rnn)

    @staticmethod
    def _validate(cell, num_layers):
        check_choice("cell", cell, _CELLS)
        check_positive_int("num_layers", num_layers)

    def build(self, input_shape):
        word_shape, char_shape = self._split_inputs(input_shape, shapes=True)
        batch, time = word_shape[0], word_shape[1]
        self.word_embedding.build(word_shape)
        features = self.embed_dim
        if char_shape is not None:
            self.char_encoder.build(char_shape)
            features += self.char_filters
        rnn_dim = self.units * (2 if self.bidirectional else 1)
        for rnn in self.rnns:
            rnn.build((batch, time, features))
            features = rnn_dim
        self.scores_dense.build((batch, time, rnn_dim))
        if self.crf is not None:
            self.crf.build((batch, time, self.num_tags))
        self.built = True

    def call(self, inputs, training=False):
        word_ids, char_ids = self._split_inputs(inputs)
        mask = ops.not_equal(word_ids, 0)  # (batch, time)
        x = self.word_embedding(self._drop_words(word_ids, training))  # (batch, time, embed_dim)
        if char_ids is not None:
            chars = self.char_encoder(char_ids)  # (batch, time, char_filters)
            x = ops.concatenate([x, ops.cast(chars, x.dtype)], axis=-1)
        x = self.dropout_layer(x, training=training)
        for rnn in self.rnns:
            x = rnn(x, mask=mask, training=training)  # (batch, time, rnn_dim)
            x = self.dropout_layer(x, training=training)
        return self.scores_dense(x)  # (batch, time, num_tags) float32

    def get_config(self):
        config = super().get_config()
        config.update(self._head_config())
        config.update({"units": self.units, "cell": self.cell, "num_layers": self.num_layers,
                       "bidirectional": self.bidirectional})
        return config
