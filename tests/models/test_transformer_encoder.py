import keras
import numpy as np
import pytest

from models.layers.transformer_encoder import TransformerEncoder
from tests.models.layer_checks import run_layer_checks

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 8)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.slow  # ~15 s on JAX (a trace per check); runs in the TensorFlow pass
def test_standard_layer_checks():
    run_layer_checks(
        TransformerEncoder, {"embed_dim": 8, "num_heads": 2, "ff_dim": 16, "dropout": 0.1},
        [X, MASK],
    )


def test_padded_keys_get_zero_weight_and_are_ignored():
    layer = TransformerEncoder(8, num_heads=2, ff_dim=16)
    outputs, weights = layer(X, mask=MASK, return_attention_scores=True)
    weights = _np(weights)  # (batch, heads, query, key)
    assert weights.shape == (3, 2, 5, 5)
    keys_padded = np.broadcast_to((MASK == 0)[:, None, None, :], weights.shape)
    assert np.all(weights[keys_padded] == 0.0)
    real = MASK > 0
    np.testing.assert_allclose(weights.sum(-1)[np.broadcast_to(real[:, None], (3, 2, 5))], 1.0,
                               atol=1e-5)
    garbage = np.where(MASK[..., None] > 0, X, 50.0).astype("float32")
    garbage = np.pad(garbage, [(0, 0), (0, 2), (0, 0)], constant_values=-3.0)
    again = layer(garbage, mask=np.pad(MASK, [(0, 0), (0, 2)]))
    np.testing.assert_allclose(_np(again)[:, :5][real], _np(outputs)[real], atol=1e-5)


def test_matches_numpy_post_layer_norm_block():
    layer = TransformerEncoder(8, num_heads=2, ff_dim=16)
    outputs = _np(layer(X, mask=MASK))
    attended = _np(layer.attention(X, X, attention_mask=(MASK > 0)[:, None, :]))

    def layer_norm(x, norm):
        gamma, beta = _np(norm.gamma), _np(norm.beta)
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + norm.epsilon) * gamma + beta

    a = layer_norm(X + attended, layer.attention_norm)
    hidden = np.maximum(a @ _np(layer.ff_inner.kernel) + _np(layer.ff_inner.bias), 0)
    ff = hidden @ _np(layer.ff_outer.kernel) + _np(layer.ff_outer.bias)
    np.testing.assert_allclose(outputs, layer_norm(a + ff, layer.ff_norm), atol=1e-5)


def test_matches_numpy_pre_layer_norm_block():
    """norm_first: a = x + MHA(LN(x)); y = a + FF(LN(a)); padded keys still get no weight."""
    layer = TransformerEncoder(8, num_heads=2, ff_dim=16, norm_first=True)
    outputs = _np(layer(X, mask=MASK))

    def layer_norm(x, norm):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + norm.epsilon) * _np(norm.gamma) + _np(norm.beta)

    normed = layer_norm(X, layer.attention_norm)
    a = X + _np(layer.attention(normed, normed, attention_mask=(MASK > 0)[:, None, :]))
    hidden = np.maximum(layer_norm(a, layer.ff_norm) @ _np(layer.ff_inner.kernel) + _np(layer.ff_inner.bias), 0)
    np.testing.assert_allclose(outputs, a + hidden @ _np(layer.ff_outer.kernel) + _np(layer.ff_outer.bias),
                               atol=1e-5)
    assert layer.get_config()["norm_first"] is True


def test_invalid_arguments():
    with pytest.raises(ValueError, match="divisible by `num_heads`.*embed_dim=10, num_heads=4"):
        TransformerEncoder(10, num_heads=4, ff_dim=16)
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        TransformerEncoder(8, num_heads=2, ff_dim=16, dropout=1.5)
    with pytest.raises(ValueError, match="last dimension embed_dim=8"):
        TransformerEncoder(8, num_heads=2, ff_dim=16)(X[..., :4])
