"""An RNN cell that attends over the encoder memory: before its step (Bahdanau) or after it (Luong)."""

import keras
from keras import ops

from models.checks import check_choice, check_positive_int
from models.layers.bahdanau_attention import BahdanauAttention
from models.layers.luong_attention import LuongAttention

_CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong_general", "luong_dot")


@keras.saving.register_keras_serializable(package="seqlab")
class AttentionDecoderCell(keras.layers.Layer):
    """Attention decoder cell for `keras.layers.RNN`: Bahdanau's or Luong's.

    `attention="bahdanau"`: at each step t, with previous state `s_{t-1}` and
    previous target embedding `y_{t-1}`:

        c_t = attention(s_{t-1}, h)                 # BahdanauAttention
        s_t = f(s_{t-1}, [y_{t-1}; c_t])            # GRUCell or LSTMCell
        output_t = [s_t; c_t]

    `attention="luong_general"` / `"luong_dot"` (Luong et al., 2015, with
    input feeding): the step comes first and its new state asks the question,

        s_t = f(s_{t-1}, [y_{t-1}; s~_{t-1}])      # s~_0 = 0
        c_t = attention(s_t, h)                     # LuongAttention: s_t^T W_a h_j or s_t^T h_j
        s~_t = tanh(W_c [c_t; s_t])                 # the attentional state
        output_t = s~_t

    Keras 3's `RNN` has no `constants=` argument, so the encoder memory, its
    precomputed attention keys and the source mask travel as extra,
    loop-invariant states that the cell returns unchanged. The state list is

        GRU:  [s (batch, units), memory (batch, S, memory_dim),
               keys (batch, S, key_dim), source_mask (batch, S)]
        LSTM: [h, c, memory, keys, source_mask]

    Luong cells carry `s~_{t-1}` (batch, units) after the recurrent states,
    and `key_dim` is `attention_units` (Bahdanau), `units` (general) or
    `memory_dim` (dot, which needs `units == memory_dim`).

    `source_mask` is a float 0/1 tensor (RNN casts states to the compute
    dtype). There is no default initial state: always pass `initial_state`
    (see `AttentionSeq2Seq.encode`).

    Args:
        units: int, size of the recurrent state.
        attention_units: int, size of the attention space (Bahdanau only).
        memory_dim: int, last dimension of the encoder memory (needed to
            build the recurrent kernel before the memory is seen).
        cell: `"gru"` or `"lstm"`.
        attention: one of `ATTENTIONS`.
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: `(batch, input_dim)`, the embedding of the previous token.
        states: the state list above.
        training: bool, passed to the recurrent cell.

    Returns:
        `(output, new_states)` with output `(batch, output_size)`:
        `units + memory_dim` (Bahdanau) or `units` (Luong).

    Example:

    >>> cell = AttentionDecoderCell(16, 8, memory_dim=12)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> cell.build((2, 4))
    >>> memory = np.random.rand(2, 5, 12).astype("float32")
    >>> keys = cell.attention.precompute_keys(memory)
    >>> states = [np.zeros((2, 16), "float32"), memory, keys,
    ...           np.ones((2, 5), "float32")]
    >>> ops.shape(rnn(np.random.rand(2, 3, 4).astype("float32"), initial_state=states))
    (2, 3, 28)
    """

    def __init__(self, units, attention_units, memory_dim, cell="gru", attention="bahdanau", **kwargs):
        super().__init__(**kwargs)
        check_choice("cell", cell, _CELLS)
        check_choice("attention", attention, ATTENTIONS)
        if attention == "luong_dot" and units != memory_dim:
            raise ValueError(
                "Expected units == memory_dim for attention='luong_dot' (the score s_t^T h_j). Received: "
                f"units={units}, memory_dim={memory_dim}. Use attention='luong_general', or a unidirectional "
                "encoder of the decoder's size."
            )
        for name, value in (("units", units), ("attention_units", attention_units), ("memory_dim", memory_dim)):
            check_positive_int(name, value)
        self.units = units
        self.attention_units = attention_units
        self.memory_dim = memory_dim
        self.cell = cell
        self.attention_kind = attention
        self.luong = attention != "bahdanau"
        self.num_cell_states = 2 if cell == "lstm" else 1
        # The states before memory/keys/mask: the cell's, then Luong's attentional state s~_{t-1}.
        self.num_recurrent_states = self.num_cell_states + int(self.luong)
        key_dim = {"bahdanau": attention_units, "luong_general": units, "luong_dot": memory_dim}[attention]
        # Last-axis size of each state; memory/keys/mask also have a source axis.
        self.state_size = [units] * self.num_recurrent_states + [memory_dim, key_dim, 1]
        self.output_size = units if self.luong else units + memory_dim

    def build(self, inputs_shape):
        batch = inputs_shape[0]
        if self.luong:
            self.attention = LuongAttention(self.attention_kind.split("_")[1], dtype=self.dtype_policy,
                                            name="attention")
            self.attentional_dense = keras.layers.Dense(  # W_c, no bias (Luong's eq. 5)
                self.units, activation="tanh", use_bias=False, dtype=self.dtype_policy, name="attentional_dense")
            self.attentional_dense.build((batch, self.memory_dim + self.units))
        else:
            self.attention = BahdanauAttention(
                self.attention_units, dtype=self.dtype_policy, name="attention"
            )
        self.attention.build((batch, self.units), (batch, None, self.memory_dim))
        cell_class = keras.layers.LSTMCell if self.cell == "lstm" else keras.layers.GRUCell
        self.recurrent_cell = cell_class(
            self.units, dtype=self.dtype_policy, name=f"{self.cell}_cell"
        )
        fed = self.units if self.luong else self.memory_dim  # s~_{t-1} or c_t beside y_{t-1}
        self.recurrent_cell.build((batch, inputs_shape[-1] + fed))
        self.built = True

    def get_initial_state(self, batch_size=None):
        raise ValueError(
            "AttentionDecoderCell has no default initial state: the encoder "
            "memory is part of the state. Pass `initial_state=` to the RNN, "
            "e.g. the list returned by `AttentionSeq2Seq.encode`."
        )

    def step(self, inputs, states, training=False):
        """One decoder step that also returns the attention weights.

        Args:
            inputs: `(batch, input_dim)` previous-token embedding.
            states: the state list (see the class docstring).
            training: bool.

        Returns:
            `(output (batch, output_size), new_states,
            weights (batch, source_len) float32)`.
        """
        if self.luong:
            return self._luong_step(inputs, list(states), training)
        states = list(states)
        n = self.num_recurrent_states
        recurrent_states = states[:n]
        memory, keys, source_mask = states[n:]
        context, weights = self.attention(
            recurrent_states[0],  # s_{t-1} (the LSTM's h): (batch, units)
            memory,  # (batch, source_len, memory_dim)
            mask=source_mask,  # (batch, source_len)
            keys=keys,  # (batch, source_len, attention_units)
            return_attention_scores=True,
        )  # context: (batch, memory_dim), weights: (batch, source_len)
        cell_inputs = ops.concatenate(
            [inputs, ops.cast(context, inputs.dtype)], axis=-1
        )  # (batch, input_dim + memory_dim)
        state_t, new_recurrent = self.recurrent_cell(
            cell_inputs, recurrent_states, training=training
        )  # (batch, units)
        output = ops.concatenate(
            [state_t, ops.cast(context, state_t.dtype)], axis=-1
        )  # (batch, units + memory_dim)
        new_states = list(new_recurrent) + [memory, keys, source_mask]
        return output, new_states, weights

    def _luong_step(self, inputs, states, training):
        n = self.num_cell_states
        cell_states, fed = states[:n], states[n]  # fed: s~_{t-1} (batch, units)
        memory, keys, source_mask = states[n + 1:]
        cell_inputs = ops.concatenate([inputs, ops.cast(fed, inputs.dtype)], axis=-1)  # (batch, input_dim + units)
        state_t, new_cell_states = self.recurrent_cell(cell_inputs, cell_states, training=training)  # (batch, units)
        context, weights = self.attention(
            state_t, memory, mask=source_mask, keys=keys, return_attention_scores=True
        )  # context: (batch, memory_dim), weights: (batch, source_len)
        attentional = self.attentional_dense(
            ops.concatenate([ops.cast(context, state_t.dtype), state_t], axis=-1))  # (batch, units)
        return attentional, list(new_cell_states) + [attentional, memory, keys, source_mask], weights

    def call(self, inputs, states, training=False):
        output, new_states, _ = self.step(inputs, states, training=training)
        return output, new_states

    def get_config(self):
        names = ("units", "attention_units", "memory_dim", "cell")
        return {**super().get_config(), **{name: getattr(self, name) for name in names},
                "attention": self.attention_kind}
