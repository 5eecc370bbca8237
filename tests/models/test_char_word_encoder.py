import keras
import numpy as np
import pytest

from models.layers.char_word_encoder import CharWordEncoder
from tests.models.layer_checks import run_layer_checks

# (batch=2, time=3, chars=5), right-padded words and characters.
CHARS = np.array(
    [
        [[3, 4, 5, 0, 0], [6, 0, 0, 0, 0], [7, 8, 9, 3, 4]],
        [[2, 2, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    ],
    "int32",
)
INIT = {"char_vocab_size": 10, "embed_dim": 4, "filters": 6, "kernel_size": 3}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_standard_layer_checks():
    run_layer_checks(CharWordEncoder, INIT, [CHARS])


def test_matches_numpy_conv_max_pool():
    layer = CharWordEncoder(**INIT)
    out = _np(layer(CHARS))
    table = _np(layer.char_embedding.embeddings)
    kernel = _np(layer.char_conv.kernel)[0]  # (kernel_size, embed_dim, filters)
    bias = _np(layer.char_conv.bias)
    for b, t in np.ndindex(CHARS.shape[:2]):
        word = CHARS[b, t][CHARS[b, t] != 0]
        if len(word) == 0:
            np.testing.assert_array_equal(out[b, t], 0.0)
            continue
        x = np.pad(table[word], [(1, 1), (0, 0)])  # "same" padding, kernel 3
        conv = np.stack(
            [np.einsum("ke,kef->f", x[c : c + 3], kernel) for c in range(len(word))]
        )
        np.testing.assert_allclose(out[b, t], np.tanh(conv + bias).max(0), atol=1e-5)


def test_extra_character_padding_changes_nothing_and_mask_marks_words():
    layer = CharWordEncoder(**INIT)
    out = _np(layer(CHARS))
    padded = np.pad(CHARS, [(0, 0), (0, 0), (0, 4)])
    np.testing.assert_allclose(_np(layer(padded)), out, atol=1e-6)
    np.testing.assert_array_equal(
        _np(layer.compute_mask(CHARS)), [[True, True, True], [True, False, False]]
    )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: filters=0"):
        CharWordEncoder(10, filters=0)
