import keras
import numpy as np
import pytest

from models.layers.char_bilstm_word_encoder import CharBiLSTMWordEncoder
from tests.models.layer_checks import lstm_equations, run_layer_checks

# (batch=2, time=3, chars=7), right-padded words and characters; the longest word has 5 characters, so every
# word has extra padding that the output must ignore.
CHARS = np.array(
    [
        [[3, 4, 5, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0, 0], [7, 8, 9, 3, 4, 0, 0]],
        [[2, 2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]],
    ],
    "int32",
)
INIT = {"char_vocab_size": 10, "embed_dim": 4, "units": 3}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _lstm_last_state(lstm, inputs):
    """The LSTM equations (`lstm_equations`) with `lstm`'s weights over `inputs` (steps, features): the last h."""
    return lstm_equations(*(_np(w) for w in lstm.cell.weights), inputs[None])[1][0]


@pytest.mark.slow  # ~14 s on JAX (an LSTM trace per check); runs in the TensorFlow pass
def test_standard_layer_checks():
    run_layer_checks(CharBiLSTMWordEncoder, INIT, [CHARS])


def test_matches_numpy_bilstm_over_each_words_real_characters():
    """The output equals the LSTM equations run over the real characters only: padding changes nothing."""
    layer = CharBiLSTMWordEncoder(**INIT)
    out = _np(layer(CHARS))  # (2, 3, 6)
    table = _np(layer.char_embedding.embeddings)
    for b, t in np.ndindex(CHARS.shape[:2]):
        word = CHARS[b, t][CHARS[b, t] != 0]
        if len(word) == 0:
            np.testing.assert_array_equal(out[b, t], 0.0)
            continue
        forward = _lstm_last_state(layer.forward_lstm, table[word])
        backward = _lstm_last_state(layer.backward_lstm, table[word][::-1])
        np.testing.assert_allclose(out[b, t], np.concatenate([forward, backward]), atol=1e-5)


def test_mask_marks_words_with_characters():
    np.testing.assert_array_equal(
        _np(CharBiLSTMWordEncoder(**INIT).compute_mask(CHARS)), [[True, True, True], [True, False, False]]
    )


def test_saved_model_reloads_with_its_config_and_weights(tmp_path):
    """The `.keras` round trip on every backend (the JAX pass skips the standard checks, which call it too)."""
    inputs = keras.Input((None, CHARS.shape[2]), dtype="int32")
    encoder = CharBiLSTMWordEncoder(**INIT, name="encoder")
    keras.Model(inputs, encoder(inputs)).save(tmp_path / "encoder.keras")
    restored = keras.saving.load_model(tmp_path / "encoder.keras").get_layer("encoder")
    assert type(restored) is CharBiLSTMWordEncoder and restored.get_config() == encoder.get_config()
    for got, want in zip(restored.weights, encoder.weights):
        np.testing.assert_array_equal(_np(got), _np(want))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: units=0"):
        CharBiLSTMWordEncoder(10, units=0)
