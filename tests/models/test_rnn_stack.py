import warnings

import keras
import numpy as np
import pytest

from models.layers.rnn_stack import RNNStack
from models.layers.sequence_pooling import SequencePooling
from tests.models.layer_checks import lstm_equations, run_layer_checks, sigmoid

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _weights(stack):
    cell = stack.rnn_layers[0].cell
    return _np(cell.kernel), _np(cell.recurrent_kernel), _np(cell.bias)


def numpy_simple(stack, x):
    """h_t = tanh(W x_t + U h_{t-1} + b)."""
    w, u, b = _weights(stack)
    h = np.zeros((x.shape[0], u.shape[0]), "float32")
    outputs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w + h @ u + b)
        outputs.append(h)
    return np.stack(outputs, 1), [h]


def numpy_gru(stack, x):
    """Keras' reset_after GRU: the reset gate multiplies (U_h h + b_rh).

    z = sig(W_z x + b_z + U_z h + b_rz); r = sig(W_r x + b_r + U_r h + b_rr)
    n = tanh(W_h x + b_h + r * (U_h h + b_rh)); h' = z * h + (1 - z) * n
    """
    w, u, b = _weights(stack)
    units = u.shape[0]
    h = np.zeros((x.shape[0], units), "float32")
    outputs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ w + b[0]
        hu = h @ u + b[1]
        z = sigmoid(xw[:, :units] + hu[:, :units])
        r = sigmoid(xw[:, units : 2 * units] + hu[:, units : 2 * units])
        n = np.tanh(xw[:, 2 * units :] + r * hu[:, 2 * units :])
        h = z * h + (1 - z) * n
        outputs.append(h)
    return np.stack(outputs, 1), [h]


def numpy_lstm(stack, x):
    """i, f, o = sig(.), g = tanh(.) of W x + U h + b; c' = f c + i g; h' = o tanh(c')."""
    outputs, h, c = lstm_equations(*_weights(stack), x)
    return outputs, [h, c]


@pytest.mark.parametrize(
    "cell,reference", [("simple", numpy_simple), ("gru", numpy_gru), ("lstm", numpy_lstm)]
)
def test_matches_lecture_equations(cell, reference):
    stack = RNNStack(6, cell=cell, return_state=True)
    outputs = stack(X)
    # Random biases, so the bias terms are checked too.
    bias = stack.rnn_layers[0].cell.bias
    bias.assign(RNG.normal(size=bias.shape).astype("float32"))
    outputs = [_np(o) for o in stack(X)]
    want_sequence, want_states = reference(stack, X)
    np.testing.assert_allclose(outputs[0], want_sequence, atol=1e-5)
    for got, want in zip(outputs[1:], want_states):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_default_initialization():
    stack = RNNStack(4, cell="lstm")
    stack.build((None, None, 3))
    kernel, recurrent, bias = _weights(stack)
    np.testing.assert_array_equal(bias[4:8], 1.0)  # forget gate
    np.testing.assert_array_equal(np.delete(bias, np.s_[4:8]), 0.0)
    # Orthogonal: the (units, 4 units) recurrent kernel has orthonormal rows.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)
    simple = RNNStack(4, cell="simple")
    simple.build((None, None, 3))
    u = _weights(simple)[1]
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-5)


def test_standard_layer_checks():
    run_layer_checks(
        RNNStack,
        {"units": 4, "cell": "gru", "bidirectional": True, "return_state": True},
        [X, MASK],
    )


def test_final_states_equal_last_pooling_and_ignore_padding():
    for cell in ("lstm",):
        stack = RNNStack(
            5, cell=cell, bidirectional=True, num_layers=2, dropout=0.5, return_state=True
        )
        sequences, *states = stack(X, mask=MASK)
        forward_h = states[0]
        backward_h = states[len(states) // 2]
        pooled = SequencePooling("bidirectional_last")(sequences, mask=MASK)
        np.testing.assert_allclose(
            _np(pooled), np.concatenate([_np(forward_h), _np(backward_h)], -1), atol=1e-6
        )
        # Garbage at padded steps and extra padding change nothing.
        garbage = np.where(MASK[..., None] > 0, X, 100.0).astype("float32")
        garbage = np.pad(garbage, [(0, 0), (0, 2), (0, 0)], constant_values=50.0)
        longer_mask = np.pad(MASK, [(0, 0), (0, 2)])
        again, *states2 = stack(garbage, mask=longer_mask)
        for a, b in zip(states, states2):
            np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)
        real = MASK > 0
        np.testing.assert_allclose(_np(again)[:, :5][real], _np(sequences)[real], atol=1e-6)


def test_unidirectional_last_state_and_mask_propagation():
    stack = RNNStack(5, cell="gru", return_state=True)
    sequences, h = stack(X, mask=MASK)
    pooled = SequencePooling("last")(sequences, mask=MASK)
    np.testing.assert_allclose(_np(pooled), _np(h), atol=1e-6)
    assert stack.state_names == ["h"]
    # The mask travels through the stack to the next layer of a functional model.
    inputs = keras.Input((None, 4))
    masked = keras.layers.Masking(0.0)(inputs)
    pooled = SequencePooling("mean")(RNNStack(3, bidirectional=True)(masked))
    model = keras.Model(inputs, pooled)
    zeroed = X * MASK[..., None]
    padded = np.pad(zeroed, [(0, 0), (0, 3), (0, 0)])
    np.testing.assert_allclose(_np(model(zeroed)), _np(model(padded)), atol=1e-6)


def test_cudnn_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RNNStack(4, cell="lstm", dropout=0.3)
        RNNStack(4, cell="simple", activation="relu")  # no fused kernel anyway
    with pytest.warns(UserWarning, match="recurrent_dropout=0.2.*cuDNN"):
        RNNStack(4, cell="lstm", recurrent_dropout=0.2)
    with pytest.warns(UserWarning, match="activation='relu'"):
        RNNStack(4, cell="gru", activation="relu")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        RNNStack(4, cell="rnn")
    with pytest.raises(ValueError, match="Received: num_layers=0"):
        RNNStack(4, num_layers=0)
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        RNNStack(4, dropout=1.0)
    with pytest.raises(ValueError, match="Received: units=0"):
        RNNStack(0)
