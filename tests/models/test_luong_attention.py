import keras
import numpy as np
import pytest

from models.layers.luong_attention import LuongAttention
from tests.models.layer_checks import COMPUTE, run_layer_checks

RNG = np.random.default_rng(2)
QUERY = RNG.normal(size=(3, 6)).astype("float32")
MEMORY = RNG.normal(size=(3, 5, 4)).astype("float32")
SAME_SIZE_MEMORY = RNG.normal(size=(3, 5, 6)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], "float32")


def numpy_luong(layer, query, memory, mask):
    """general: e_tj = s_t^T W_a h_j; dot: e_tj = s_t^T h_j; divided by sqrt(query_dim) when scaled;
    softmax over unpadded j; c_t = sum_j a_tj h_j."""
    if layer.score == "general":
        w_a = keras.ops.convert_to_numpy(layer.key_dense.kernel)  # (memory_dim, query_dim): h_j @ w_a = W_a h_j
        scores = np.einsum("bq,bsq->bs", query, memory @ w_a)
    else:
        scores = np.einsum("bq,bsq->bs", query, memory)
    if layer.scaled:
        scores = scores / np.sqrt(query.shape[-1])
    scores = np.where(mask > 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bs,bsh->bh", weights, memory), weights


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("score,memory", [("general", MEMORY), ("dot", SAME_SIZE_MEMORY)])
def test_standard_layer_checks(score, memory):
    run_layer_checks(LuongAttention, {"score": score, "scaled": score == "general"}, [QUERY, memory, MASK],
                     call_kwargs={"return_attention_scores": True}, expected_dtypes=[COMPUTE, "float32"],
                     run_fit=score == "general")  # dot has no weights to train


@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("score,memory", [("general", MEMORY), ("dot", SAME_SIZE_MEMORY)])
def test_matches_numpy_equations_and_padding_gets_zero_weight(score, memory, scaled):
    layer = LuongAttention(score, scaled=scaled)
    context, weights = layer(QUERY, memory, mask=MASK, return_attention_scores=True)
    want_context, want_weights = numpy_luong(layer, QUERY, memory, MASK)
    np.testing.assert_allclose(_np(weights), want_weights, atol=1e-6)
    np.testing.assert_allclose(_np(context), want_context, atol=1e-5)
    assert np.all(_np(weights)[MASK == 0] == 0.0)
    changed = memory.copy()
    changed[MASK == 0] = 1e3 * RNG.normal(size=changed[MASK == 0].shape)
    np.testing.assert_allclose(_np(layer(QUERY, changed, mask=MASK)), _np(context), atol=1e-5)


def test_precomputed_keys_and_multi_step_query():
    layer = LuongAttention("general")
    context = _np(layer(QUERY, MEMORY, mask=MASK))
    keys = layer.precompute_keys(MEMORY)
    assert tuple(keys.shape) == (3, 5, 6)
    np.testing.assert_allclose(_np(layer(QUERY, MEMORY, mask=MASK, keys=keys)), context, atol=1e-6)
    multi, weights = layer(np.stack([QUERY, 2 * QUERY], 1), MEMORY, mask=MASK, return_attention_scores=True)
    assert tuple(weights.shape) == (3, 2, 5)
    np.testing.assert_allclose(_np(multi)[:, 0], context, atol=1e-6)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: score='concat'"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="query_dim=6, memory_dim=4"):
        LuongAttention("dot")(QUERY, MEMORY)
