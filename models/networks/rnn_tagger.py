"""(Bi)LSTM sequence tagger with a softmax or CRF output (BiLSTM-CRF)."""

import keras

from models.checks import check_choice, check_positive_int
from models.networks.tagging_head import TaggingHead

_CELLS = ("gru", "lstm")


@keras.saving.register_keras_serializable(package="seqlab")
class RNNTagger(TaggingHead, keras.Model):
    """Token tagger: embeddings [+ char CNN or BiLSTM] -> (Bi)RNN stack -> per-token scores.

    `Embedding(mask_zero=True)` of the word ids, concatenated with a
    `CharWordEncoder` (or `CharBiLSTMWordEncoder`) of the character ids when `char_vocab_size > 0`, then
    `num_layers` (bidirectional) LSTM/GRU layers with cuDNN-eligible defaults
    (dropout between layers, never recurrent dropout), then
    `Dense(num_tags, dtype="float32")` scores. With `output="crf"` the scores
    are the emissions of a `CRF` layer (float32 whatever the policy).

    Args:
        units: int, recurrent size of each direction.
        cell: `"lstm"` or `"gru"`.
        num_layers: int, number of stacked recurrent layers.
        bidirectional: bool.
        vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim, char_filters,
            tag_names, bio_constraints, word_dropout, char_encoder: the arguments every tagger takes (`TaggingHead`).
        **kwargs: standard `keras.Model` arguments (`name`, `dtype`).

    Call arguments, returns, loss and `predict_tags`: as `TaggingHead` says.

    Example:

    >>> model = RNNTagger(50, 5, embed_dim=8, units=8, output="crf")
    >>> words = np.array([[4, 7, 9, 0], [3, 0, 0, 0]])
    >>> ops.shape(model(words))
    (2, 4, 5)
    >>> model.compile(optimizer="adam")  # no loss: the CRF NLL is used
    >>> ops.shape(model.predict_tags(words))
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
        char_encoder="cnn",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("cell", cell, _CELLS)
        check_positive_int("num_layers", num_layers)
        self._init_head(vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim,
                        char_filters, tag_names, bio_constraints, word_dropout, char_encoder=char_encoder)
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

    def build(self, input_shape):
        batch, time = self._build_inputs(input_shape)
        features = self.embed_dim + (self.char_filters if self.char_encoder is not None else 0)
        rnn_dim = self.units * (2 if self.bidirectional else 1)
        for rnn in self.rnns:
            rnn.build((batch, time, features))
            features = rnn_dim
        self._build_outputs(batch, time, rnn_dim)

    def call(self, inputs, training=False):
        x, mask = self._embed(inputs, training)  # (batch, time, features), (batch, time)
        x = self.dropout_layer(x, training=training)
        for rnn in self.rnns:
            x = rnn(x, mask=mask, training=training)  # (batch, time, rnn_dim)
            x = self.dropout_layer(x, training=training)
        return self.scores_dense(x)  # (batch, time, num_tags) float32

    def get_config(self):
        names = ("units", "cell", "num_layers", "bidirectional")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
