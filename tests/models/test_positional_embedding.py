import keras
import numpy as np
import pytest

from models.layers.positional_embedding import PositionalEmbedding, sinusoidal_positions
from tests.models.layer_checks import run_layer_checks

X = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def numpy_sinusoid(length, depth):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    table = np.zeros((length, depth))
    for p in range(length):
        for i in range(0, depth, 2):
            angle = p / 10000 ** (i / depth)
            table[p, i] = np.sin(angle)
            if i + 1 < depth:
                table[p, i + 1] = np.cos(angle)
    return table


@pytest.mark.parametrize("depth", [6, 7])
def test_sinusoidal_table_matches_numpy(depth):
    np.testing.assert_allclose(
        _np(sinusoidal_positions(9, depth)), numpy_sinusoid(9, depth), atol=1e-5
    )


def test_adds_positions_and_keeps_mask():
    sinusoidal = PositionalEmbedding(8)
    np.testing.assert_allclose(_np(sinusoidal(X)), X + numpy_sinusoid(5, 6), atol=1e-5)
    assert not sinusoidal.weights
    learned = PositionalEmbedding(8, mode="learned")
    out = _np(learned(X))
    table = _np(learned.position_embeddings)
    assert table.shape == (8, 6)
    np.testing.assert_allclose(out, X + table[:5], atol=1e-6)


def test_mask_passes_through():
    from models.layers.sequence_pooling import SequencePooling

    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 6, mask_zero=True)(ids)
    pooled = SequencePooling("mean")(PositionalEmbedding(8)(embedded))
    model = keras.Model(ids, pooled)
    tokens = np.array([[3, 4, 5, 0], [6, 0, 0, 0]], "int32")
    # Without the mask, the padded steps (which carry positions) would count.
    np.testing.assert_allclose(
        _np(model(tokens)), _np(model(np.pad(tokens, [(0, 0), (0, 3)]))), atol=1e-6
    )


@pytest.mark.parametrize("mode", ["sinusoidal", "learned"])
def test_standard_layer_checks(mode):
    run_layer_checks(
        PositionalEmbedding, {"max_length": 8, "mode": mode}, [X], run_fit=mode == "learned"
    )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: mode='rotary'"):
        PositionalEmbedding(8, mode="rotary")
    with pytest.raises(ValueError, match="Received: max_length=0"):
        PositionalEmbedding(0)
    with pytest.raises(ValueError, match="at most max_length=4"):
        PositionalEmbedding(4, mode="learned")(X)
