"""A stack of (bidirectional) LSTM / GRU / SimpleRNN layers with sane defaults."""

import warnings

import keras
from keras import ops

from models.checks import check_choice, check_positive_int, check_rate

_CELLS = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "simple": keras.layers.SimpleRNN,
}


def _activation_name(activation):
    """`"tanh"` for `"tanh"` or `keras.activations.tanh`; the config form otherwise."""
    if isinstance(activation, str):
        return activation
    return keras.activations.serialize(activation)


@keras.saving.register_keras_serializable(package="seqlab")
class RNNStack(keras.layers.Layer):
    """`num_layers` stacked recurrent layers returning the full sequence (and states).

    Defaults follow the lectures and keep the fused cuDNN kernel eligible on
    GPU: orthogonal recurrent kernels, Glorot input kernels, LSTM forget-gate
    bias initialized to 1 (`unit_forget_bias=True`), `tanh`/`sigmoid`
    activations, no recurrent dropout, right-padded masks. Asking for
    `recurrent_dropout > 0` or non-default activations of an LSTM/GRU warns that
    the fused kernel is lost (Keras then runs the slow generic loop).
    `"simple"` (SimpleRNN) has no fused kernel at all.

    Dropout (`dropout`) is applied to the features *between* layers, never to
    the inputs of the first layer or the outputs of the last (the caller owns
    those). The mask is passed to every layer and on to the output sequence.

    Final states (`return_state=True`) are those of the last layer, in this
    order (`state_names`): LSTM `[h, c]`, GRU/SimpleRNN `[h]`; bidirectional
    `[forward_h, (forward_c,) backward_h, (backward_c)]`. With a mask, the
    forward `h` equals the output at the last unpadded step and the backward
    `h` the output at position 0 (right padding) — exactly what
    `SequencePooling("last")` / `SequencePooling("bidirectional_last")` pick.

    Args:
        units: int, recurrent size of each direction.
        cell: `"lstm"`, `"gru"` or `"simple"`.
        num_layers: int >= 1.
        bidirectional: bool; the output size is then `2 * units`
            (forward features first).
        dropout: float in [0, 1), between layers.
        recurrent_dropout: float in [0, 1), on the recurrent state (disables
            cuDNN).
        activation: activation of the candidate/output (default `"tanh"`).
        recurrent_activation: gate activation of LSTM/GRU (default
            `"sigmoid"`; ignored by `"simple"`).
        return_state: bool, also return the last layer's final states.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, features)`.
        mask: optional `(batch, time)` bool or 0/1 tensor, true for real steps
            (right padding).
        training: bool.

    Returns:
        `(batch, time, output_dim)` in the compute dtype, or, with
        `return_state`, a list `[sequences, *final_states]`, each state
        `(batch, units)`.

    Example:

    >>> stack = RNNStack(8, cell="gru", bidirectional=True, return_state=True)
    >>> x = np.random.rand(2, 5, 4).astype("float32")
    >>> sequences, forward_h, backward_h = stack(x)
    >>> ops.shape(sequences), ops.shape(forward_h)
    ((2, 5, 16), (2, 8))
    """

    def __init__(
        self,
        units,
        cell="lstm",
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        activation="tanh",
        recurrent_activation="sigmoid",
        return_state=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_choice("cell", cell, _CELLS)
        check_positive_int("num_layers", num_layers)
        check_rate("dropout", dropout)
        check_rate("recurrent_dropout", recurrent_dropout)
        self.units = units
        self.cell = cell
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.activation = _activation_name(activation)
        self.recurrent_activation = _activation_name(recurrent_activation)
        self.return_state = return_state
        self.supports_masking = True
        self._warn_if_not_cudnn_eligible()

    def _warn_if_not_cudnn_eligible(self):
        if self.cell == "simple":
            return
        reasons = []
        if self.recurrent_dropout > 0:
            reasons.append(f"recurrent_dropout={self.recurrent_dropout!r}")
        if self.activation != "tanh":
            reasons.append(f"activation={self.activation!r}")
        if self.recurrent_activation != "sigmoid":
            reasons.append(f"recurrent_activation={self.recurrent_activation!r}")
        if reasons:
            warnings.warn(
                f"RNNStack({self.cell!r}) with {', '.join(reasons)} cannot use the fused "
                "cuDNN kernel and will train several times slower on GPU. Keep "
                "activation='tanh', recurrent_activation='sigmoid', recurrent_dropout=0 "
                "(use `dropout` between layers) to keep it.",
                stacklevel=3,
            )

    @property
    def output_dim(self):
        return self.units * (2 if self.bidirectional else 1)

    @property
    def state_names(self):
        """Names of the final states, in the order `call` returns them."""
        names = ["h", "c"] if self.cell == "lstm" else ["h"]
        if not self.bidirectional:
            return names
        return [f"forward_{n}" for n in names] + [f"backward_{n}" for n in names]

    def build(self, input_shape):
        rnn_class = _CELLS[self.cell]
        extra = {}
        if self.cell != "simple":
            extra["recurrent_activation"] = self.recurrent_activation
        if self.cell == "lstm":
            extra["unit_forget_bias"] = True
        self.rnn_layers = []
        self.dropout_layers = []
        shape = tuple(input_shape)
        for i in range(self.num_layers):
            if i > 0:
                drop = keras.layers.Dropout(
                    self.dropout, dtype=self.dtype_policy, name=f"dropout_{i}"
                )
                drop.build(shape)
                self.dropout_layers.append(drop)
            rnn = rnn_class(
                self.units,
                activation=self.activation,
                recurrent_initializer="orthogonal",
                recurrent_dropout=self.recurrent_dropout,
                return_sequences=True,
                return_state=self.return_state and i == self.num_layers - 1,
                dtype=self.dtype_policy,
                name=f"{self.cell}_{i}",
                **extra,
            )
            if self.bidirectional:
                rnn = keras.layers.Bidirectional(
                    rnn, dtype=self.dtype_policy, name=f"bidirectional_{i}"
                )
            rnn.build(shape)
            self.rnn_layers.append(rnn)
            shape = shape[:-1] + (self.output_dim,)
        self.built = True

    def call(self, inputs, mask=None, training=None):
        if mask is not None:
            mask = ops.cast(mask, "bool")  # (batch, time)
        x = inputs  # (batch, time, features)
        states = []
        for i, rnn in enumerate(self.rnn_layers):
            if i > 0:
                x = self.dropout_layers[i - 1](x, training=training)
            outputs = rnn(x, mask=mask, training=training)
            if self.return_state and i == self.num_layers - 1:
                x, states = outputs[0], list(outputs[1:])  # states: each (batch, units)
            else:
                x = outputs  # (batch, time, output_dim)
        return [x] + states if self.return_state else x

    def compute_mask(self, inputs, mask=None):
        return [mask] + [None] * len(self.state_names) if self.return_state else mask

    def compute_output_shape(self, input_shape):
        sequences = tuple(input_shape[:-1]) + (self.output_dim,)
        if self.return_state:
            state = (input_shape[0], self.units)
            return [sequences] + [state] * len(self.state_names)
        return sequences

    def get_config(self):
        names = ("units", "cell", "num_layers", "bidirectional", "dropout", "recurrent_dropout", "activation",
                 "recurrent_activation", "return_state")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
