"""Character-level word encoder: a forward and a backward LSTM over each word's characters (Lample et al., 2016)."""

import keras
from keras import ops

from models.checks import check_positive_int


@keras.saving.register_keras_serializable(package="seqlab")
class CharBiLSTMWordEncoder(keras.layers.Layer):
    """Encodes each word from its characters with a character BiLSTM (Lample et al., 2016).

    For each word `c_1 .. c_n` (its real characters): embed them, run a forward
    LSTM over `c_1 .. c_n` and a backward LSTM over `c_n .. c_1`, and keep the
    forward LSTM's last state and the backward LSTM's state at the first
    character:

        h_w = [ LSTM_fwd(e_1 .. e_n)_n ; LSTM_bwd(e_n .. e_1)_1 ]    (2 * units)

    Lample et al. use 25-dimensional character embeddings and 25 units a
    direction (a 50-dimensional word feature).

    Char id 0 is `[PAD]`. The words are run as one batch of `batch * time`
    character sequences with a right-padded mask, so padded characters never
    enter a recurrence and extra character padding never changes the output.
    Words without any character (padded words) encode to zeros. The LSTMs keep
    Keras's default activations and no recurrent dropout, so TensorFlow on a
    GPU runs them with the fused cuDNN kernel (which needs right-padded masks
    with at least one real step a row: an empty word runs one padding step,
    whose result is then replaced by zeros).

    Args:
        char_vocab_size: int, number of character ids (0 is padding).
        embed_dim: int, character embedding size.
        units: int, LSTM size of each direction; the output size is `2 * units`.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        char_ids: int `(batch, time, chars)`, right-padded with 0.

    Returns:
        `(batch, time, 2 * units)` in the compute dtype (forward features
        first), with a `(batch, time)` mask (true for words with at least one
        character).

    Example:

    >>> encoder = CharBiLSTMWordEncoder(30, embed_dim=8, units=8)
    >>> chars = np.array([[[3, 4, 0], [5, 0, 0], [0, 0, 0]]])
    >>> ops.shape(encoder(chars))
    (1, 3, 16)

    References:
        Lample, Ballesteros, Subramanian, Kawakami, Dyer. Neural Architectures
        for Named Entity Recognition. NAACL 2016.
    """

    def __init__(self, char_vocab_size, embed_dim=25, units=25, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("char_vocab_size", char_vocab_size), ("embed_dim", embed_dim), ("units", units)):
            check_positive_int(name, value)
        self.char_vocab_size = char_vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.supports_masking = True

    def build(self, char_ids_shape):
        self.char_embedding = keras.layers.Embedding(
            self.char_vocab_size, self.embed_dim, dtype=self.dtype_policy, name="char_embedding",
        )
        self.char_embedding.build((None, char_ids_shape[-1]))
        self.forward_lstm = keras.layers.LSTM(self.units, dtype=self.dtype_policy, name="forward_lstm")
        self.backward_lstm = keras.layers.LSTM(
            self.units, go_backwards=True, dtype=self.dtype_policy, name="backward_lstm"
        )
        for lstm in (self.forward_lstm, self.backward_lstm):
            lstm.build((None, char_ids_shape[-1], self.embed_dim))
        self.built = True

    def call(self, char_ids):
        words_shape = ops.shape(char_ids)[:2]  # (batch, time)
        chars = ops.reshape(char_ids, (-1, ops.shape(char_ids)[2]))  # (words, chars), words = batch * time
        char_mask = ops.not_equal(chars, 0)  # (words, chars)
        word_mask = ops.any(char_mask, axis=1)  # (words,)
        # Every word runs at least its first step (cuDNN rejects all-masked rows); empty words are zeroed below.
        first_char = ops.expand_dims(ops.equal(ops.arange(ops.shape(chars)[1]), 0), 0)  # (1, chars)
        run_mask = ops.logical_or(char_mask, first_char)  # (words, chars)
        x = self.char_embedding(chars)  # (words, chars, embed_dim)
        forward = self.forward_lstm(x, mask=run_mask)  # (words, units): state after the last character
        backward = self.backward_lstm(x, mask=run_mask)  # (words, units): state at the first character
        features = ops.concatenate([forward, backward], axis=-1)  # (words, 2 * units)
        features = ops.where(ops.expand_dims(word_mask, -1), features, ops.zeros_like(features))
        return ops.reshape(features, tuple(words_shape) + (2 * self.units,))  # (batch, time, 2 * units)

    def compute_mask(self, char_ids, mask=None):
        return ops.any(ops.not_equal(char_ids, 0), axis=2)  # (batch, time)

    def compute_output_shape(self, char_ids_shape):
        return tuple(char_ids_shape[:2]) + (2 * self.units,)

    def get_config(self):
        names = ("char_vocab_size", "embed_dim", "units")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
