"""Recurrent language model with carried states: embedding -> stacked SimpleRNN/GRU/LSTM -> float32 softmax head."""

import keras
from keras import ops

from models.checks import check_choice, check_positive_int, check_rate

_CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}


@keras.saving.register_keras_serializable(package="seqlab")
class RNNLanguageModel(keras.Model):
    """Next-token model whose recurrent states can be passed in and out.

    `Embedding(vocab_size, embed_dim)` -> `num_layers` x (LSTM | GRU | SimpleRNN,
    orthogonal recurrent kernel, LSTM forget bias 1, tanh/sigmoid: cuDNN-eligible)
    with dropout between layers -> `Dense(vocab_size, dtype="float32")` logits.

    States are a list with one entry per layer, each a list of `(batch, units)`
    tensors (LSTM `[h, c]`, GRU/SimpleRNN `[h]`). `call(..., initial_state=s,
    return_state=True)` continues from `s` and returns the states after the
    last step: the contract of stateful truncated BPTT (carry states between
    consecutive chunks) and of generation, where `step` costs one cell step
    per new token instead of a re-run over the prefix.

    Args:
        vocab_size: int, tokens (id 0 is `[PAD]`; not masked: streams have no padding, and right
            padding never changes the logits of the tokens before it).
        embed_dim: int.
        units: int, recurrent size.
        cell: `"lstm"`, `"gru"` or `"simple"`.
        num_layers: int >= 1.
        dropout: float in [0, 1), on the embeddings, between layers and before the head.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = RNNLanguageModel(50, embed_dim=8, units=16)
    >>> logits, states = model(np.array([[5, 6, 7]]), return_state=True)
    >>> next_logits, states = model.step(np.array([8]), states)
    >>> ops.shape(logits), ops.shape(next_logits)
    ((1, 3, 50), (1, 50))
    """

    def __init__(self, vocab_size, embed_dim=64, units=256, cell="lstm", num_layers=1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_choice("cell", cell, _CELLS)
        check_positive_int("num_layers", num_layers)
        check_rate("dropout", dropout)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.cell = cell
        self.num_layers = num_layers
        self.dropout = dropout
        policy = self.dtype_policy
        # No mask: a language model reads unpadded streams; right padding (batched scoring) comes after
        # every real token, so it cannot change their logits, and the fused RNN kernels stay unmasked.
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, dtype=policy, name="embedding")
        extra = {"unit_forget_bias": True} if cell == "lstm" else {}
        self.rnns = [
            _CELLS[cell](units, return_sequences=True, return_state=True, recurrent_initializer="orthogonal",
                         dtype=policy, name=f"{cell}_{i}", **extra)
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.head = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    @property
    def states_per_layer(self):
        return 2 if self.cell == "lstm" else 1

    def initial_states(self, batch_size):
        """Zero states for `batch_size` sequences (the start of a stream or an epoch)."""
        zeros = ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
        return [[zeros] * self.states_per_layer for _ in range(self.num_layers)]

    def build(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        self.embedding.build(input_shape)
        features = self.embed_dim
        for rnn in self.rnns:
            rnn.build((batch, time, features))
            features = self.units
        self.head.build((batch, time, self.units))
        self.built = True

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        x = self.dropout_layer(self.embedding(inputs), training=training)  # (batch, time, embed_dim)
        final_states = []
        for i, rnn in enumerate(self.rnns):
            state = None if initial_state is None else list(initial_state[i])
            x, *states = rnn(x, initial_state=state, training=training)  # (batch, time, units)
            final_states.append(states)
            x = self.dropout_layer(x, training=training)
        logits = self.head(x)  # (batch, time, vocab_size) float32
        return (logits, final_states) if return_state else logits

    def step(self, token_ids, states):
        """One token per sequence `(batch,)` + states -> (logits `(batch, vocab_size)`, new states)."""
        logits, states = self(ops.expand_dims(token_ids, 1), initial_state=states, return_state=True)
        return logits[:, 0, :], states

    def get_config(self):
        names = ("vocab_size", "embed_dim", "units", "cell", "num_layers", "dropout")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
