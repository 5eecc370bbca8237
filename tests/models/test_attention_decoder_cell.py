import keras
import numpy as np
import pytest

from models.layers.attention_decoder_cell import AttentionDecoderCell
from tests.models.layer_checks import run_layer_checks, sigmoid
from tests.models.test_bahdanau_attention import numpy_attention

RNG = np.random.default_rng(1)
BATCH, SOURCE_LEN, MEMORY_DIM, UNITS, ATT, EMB = 3, 5, 6, 4, 7, 2
INPUTS = RNG.normal(size=(BATCH, EMB)).astype("float32")
STATE = RNG.normal(size=(BATCH, UNITS)).astype("float32")
MEMORY = RNG.normal(size=(BATCH, SOURCE_LEN, MEMORY_DIM)).astype("float32")
KEYS = RNG.normal(size=(BATCH, SOURCE_LEN, ATT)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.slow  # ~15 s on JAX (a trace per check); runs in the TensorFlow pass
def test_standard_layer_checks():
    run_layer_checks(
        AttentionDecoderCell,
        {"units": UNITS, "attention_units": ATT, "memory_dim": MEMORY_DIM},
        [INPUTS, [STATE, MEMORY, KEYS, MASK]],
        # Training through the cell is covered by the AttentionSeq2Seq fit test.
        run_fit=False,
    )


def test_gru_step_matches_numpy_equations():
    cell = AttentionDecoderCell(UNITS, ATT, MEMORY_DIM, cell="gru")
    cell.build(INPUTS.shape)
    keys = _np(cell.attention.precompute_keys(MEMORY))
    output, states, weights = cell.step(INPUTS, [STATE, MEMORY, keys, MASK])

    # c_t = attention(s_{t-1}, h)
    context, want_weights = numpy_attention(cell.attention, STATE, MEMORY, MASK)
    # s_t = GRU(s_{t-1}, [y_{t-1}; c_t]), Keras convention: gates [z, r, h],
    # reset_after=True, bias = [input_bias, recurrent_bias].
    gru = cell.recurrent_cell
    kernel, recurrent = _np(gru.kernel), _np(gru.recurrent_kernel)
    input_bias, recurrent_bias = _np(gru.bias)
    x = np.concatenate([INPUTS, context], axis=-1) @ kernel + input_bias
    h = STATE @ recurrent + recurrent_bias
    u = UNITS
    z = sigmoid(x[:, :u] + h[:, :u])
    r = sigmoid(x[:, u : 2 * u] + h[:, u : 2 * u])
    candidate = np.tanh(x[:, 2 * u :] + r * h[:, 2 * u :])
    want_state = z * STATE + (1 - z) * candidate

    np.testing.assert_allclose(_np(weights), want_weights, atol=1e-6)
    np.testing.assert_allclose(_np(states[0]), want_state, atol=1e-5)
    np.testing.assert_allclose(
        _np(output), np.concatenate([want_state, context], -1), atol=1e-5
    )
    for got, want in zip(states[1:], [MEMORY, keys, MASK]):
        np.testing.assert_array_equal(_np(got), want)


def test_lstm_states_and_rnn_loop():
    cell = AttentionDecoderCell(UNITS, ATT, MEMORY_DIM, cell="lstm")
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    sequence = RNG.normal(size=(BATCH, 4, EMB)).astype("float32")
    outputs, h, c, memory, keys, mask = rnn(
        sequence, initial_state=[STATE, STATE, MEMORY, KEYS, MASK]
    )
    assert tuple(outputs.shape) == (BATCH, 4, UNITS + MEMORY_DIM)
    assert tuple(h.shape) == tuple(c.shape) == (BATCH, UNITS)
    np.testing.assert_array_equal(_np(memory), MEMORY)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        AttentionDecoderCell(4, 4, 4, cell="rnn")
    with pytest.raises(ValueError, match="Received: memory_dim=0"):
        AttentionDecoderCell(4, 4, 0)
    with pytest.raises(ValueError, match="initial_state"):
        AttentionDecoderCell(4, 4, 4).get_initial_state(2)


@pytest.mark.parametrize("attention", ["luong_general", "luong_dot"])
def test_luong_gru_step_matches_numpy_equations(attention):
    """s_t = GRU(s_{t-1}, [y_{t-1}; s~_{t-1}]); c_t = attention(s_t, h); s~_t = tanh(W_c [c_t; s_t])."""
    from tests.models.test_luong_attention import numpy_luong

    memory = MEMORY if attention == "luong_general" else MEMORY[..., :UNITS]
    cell = AttentionDecoderCell(UNITS, ATT, memory.shape[-1], cell="gru", attention=attention)
    cell.build(INPUTS.shape)
    keys = _np(cell.attention.precompute_keys(memory))
    fed = RNG.normal(size=(BATCH, UNITS)).astype("float32")
    output, states, weights = cell.step(INPUTS, [STATE, fed, memory, keys, MASK])

    gru = cell.recurrent_cell
    kernel, recurrent = _np(gru.kernel), _np(gru.recurrent_kernel)
    input_bias, recurrent_bias = _np(gru.bias)
    x = np.concatenate([INPUTS, fed], axis=-1) @ kernel + input_bias
    h = STATE @ recurrent + recurrent_bias
    u = UNITS
    z = sigmoid(x[:, :u] + h[:, :u])
    r = sigmoid(x[:, u : 2 * u] + h[:, u : 2 * u])
    state = z * STATE + (1 - z) * np.tanh(x[:, 2 * u :] + r * h[:, 2 * u :])
    context, want_weights = numpy_luong(cell.attention, state, memory, MASK)
    attentional = np.tanh(np.concatenate([context, state], -1) @ _np(cell.attentional_dense.kernel))

    np.testing.assert_allclose(_np(weights), want_weights, atol=1e-5)
    np.testing.assert_allclose(_np(states[0]), state, atol=1e-5)
    np.testing.assert_allclose(_np(output), attentional, atol=1e-5)
    np.testing.assert_allclose(_np(states[1]), attentional, atol=1e-5)
    assert tuple(output.shape) == (BATCH, cell.output_size) == (BATCH, UNITS)


def test_luong_dot_needs_memory_of_the_decoder_size():
    with pytest.raises(ValueError, match="units=4, memory_dim=6"):
        AttentionDecoderCell(UNITS, ATT, MEMORY_DIM, attention="luong_dot")
    with pytest.raises(ValueError, match="Received: attention='concat'"):
        AttentionDecoderCell(UNITS, ATT, MEMORY_DIM, attention="concat")
