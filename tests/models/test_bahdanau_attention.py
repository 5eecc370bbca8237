import keras
import numpy as np
import pytest

from models.layers.bahdanau_attention import BahdanauAttention, large_negative
from tests.models.layer_checks import COMPUTE, run_layer_checks

RNG = np.random.default_rng(0)
QUERY = RNG.normal(size=(3, 6)).astype("float32")
MEMORY = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], "float32")


def numpy_attention(layer, query, memory, mask):
    """e_tj = v^T tanh(W_s s + W_h h_j); softmax over unpadded j."""
    w_s = keras.ops.convert_to_numpy(layer.query_dense.kernel)
    w_h = keras.ops.convert_to_numpy(layer.key_dense.kernel)
    v = keras.ops.convert_to_numpy(layer.score_dense.kernel)[:, 0]
    hidden = np.tanh((query @ w_s)[:, None, :] + memory @ w_h)  # (B, S, A)
    scores = hidden @ v  # (B, S)
    scores = np.where(mask > 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bs,bsh->bh", weights, memory), weights


def test_standard_layer_checks():
    run_layer_checks(
        BahdanauAttention,
        {"units": 8},
        [QUERY, MEMORY, MASK],
        call_kwargs={"return_attention_scores": True},
        expected_dtypes=[COMPUTE, "float32"],
    )


def test_matches_numpy_equations():
    layer = BahdanauAttention(8)
    context, weights = layer(QUERY, MEMORY, mask=MASK, return_attention_scores=True)
    want_context, want_weights = numpy_attention(layer, QUERY, MEMORY, MASK)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights), want_weights, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(context), want_context, atol=1e-5)


def test_padding_gets_exactly_zero_weight_and_is_ignored():
    layer = BahdanauAttention(8)
    context, weights = layer(QUERY, MEMORY, mask=MASK, return_attention_scores=True)
    weights = keras.ops.convert_to_numpy(weights)
    assert np.all(weights[MASK == 0] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    changed = MEMORY.copy()
    changed[MASK == 0] = 1e3 * RNG.normal(size=changed[MASK == 0].shape)
    context2 = layer(QUERY, changed, mask=MASK)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(context), keras.ops.convert_to_numpy(context2), atol=1e-6
    )


def test_precomputed_keys_and_multi_step_query():
    layer = BahdanauAttention(8)
    context = layer(QUERY, MEMORY, mask=MASK)
    keys = layer.precompute_keys(MEMORY)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(QUERY, MEMORY, mask=MASK, keys=keys)),
        keras.ops.convert_to_numpy(context),
        atol=1e-6,
    )
    queries = np.stack([QUERY, 2 * QUERY], axis=1)  # (batch, 2, query_dim)
    multi, weights = layer(queries, MEMORY, mask=MASK, return_attention_scores=True)
    assert tuple(weights.shape) == (3, 2, 5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(multi)[:, 0], keras.ops.convert_to_numpy(context), atol=1e-6
    )


def test_mask_fill_is_finite_in_float16():
    assert np.isfinite(np.float16(large_negative("float16")) * 1.4)
    with pytest.raises(ValueError, match="floating dtype"):
        large_negative("int32")


def test_invalid_units():
    with pytest.raises(ValueError, match="Received: units=0"):
        BahdanauAttention(0)
