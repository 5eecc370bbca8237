"""CausalDecoderBlock: standard layer checks, and the cached single-token `step` equals a one-step `call`.

The block's equations against NumPy, and cached decoding against the full pass, are checked through the
model in test_transformer_language_model.py.
"""

import keras
import numpy as np
import pytest
from keras import ops

from models.layers.causal_decoder_block import CausalDecoderBlock, step_cache_inputs
from tests.models.layer_checks import run_layer_checks


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.slow  # a trace per check on JAX; runs in the TensorFlow pass
def test_standard_layer_checks():
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    run_layer_checks(CausalDecoderBlock, {"embed_dim": 8, "num_heads": 2, "ff_dim": 16, "dropout": 0.1}, [x])


@pytest.mark.parametrize("batch", [1, 2])  # batch 1 takes the 2-D matmul attention of `step`, 2 the batched one
def test_block_step_equals_a_one_step_call(batch):
    keras.utils.set_random_seed(1)
    block = CausalDecoderBlock(16, 2, 32)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 16)).astype("float32")
    key_cache, value_cache = (rng.standard_normal((batch, 2, 12, 8)).astype("float32") for _ in range(2))
    positions = np.array([5, 11][:batch], "int32")  # per-row slots; 11 is the last one
    expected = block(x[:, None], key_cache, value_cache, positions[:, None])
    got = block.step(x, key_cache, value_cache, positions)
    np.testing.assert_allclose(_np(got[0]), _np(expected[0])[:, 0], atol=1e-5)
    for cache, want in zip(got[1:], expected[1:]):
        assert tuple(cache.shape) == (batch, 2, 12, 8)
        np.testing.assert_allclose(_np(cache), _np(want), atol=1e-6)


def test_step_of_int8_quantized_projections_runs_them_as_layers():
    keras.utils.set_random_seed(2)
    block = CausalDecoderBlock(16, 2, 32)
    block(np.zeros((1, 2, 16), "float32"))
    for layer in (block.query, block.key, block.value, block.attention_output):
        layer.quantize("int8")  # the kernel is int8 + scales: `step` cannot read it as a float matrix
    rng = np.random.default_rng(2)
    for batch in (1, 2):
        x = rng.standard_normal((batch, 16)).astype("float32")
        cache = rng.standard_normal((batch, 2, 12, 8)).astype("float32")
        positions = np.array([5, 11][:batch], "int32")
        expected = block(x[:, None], cache, cache, positions[:, None])
        got = block.step(x, cache, cache, positions)
        np.testing.assert_allclose(_np(got[0]), _np(expected[0])[:, 0], atol=1e-5)
        np.testing.assert_allclose(_np(got[1]), _np(expected[1]), atol=1e-6)


def test_step_cache_inputs_rows_and_mask():
    rows, bias = step_cache_inputs(np.array([3, 0], "int32"), num_heads=2, slots=5)
    # the cache viewed as (batch * heads * slots, head_dim): sequence b, head i, slot p at (b * heads + i) * slots + p
    np.testing.assert_array_equal(_np(rows)[:, 0], [3, 8, 10, 15])
    assert tuple(bias.shape) == (2, 1, 5) and keras.backend.standardize_dtype(bias.dtype) == "float32"
    np.testing.assert_array_equal(_np(bias)[:, 0] == 0, [[1, 1, 1, 1, 0], [1, 0, 0, 0, 0]])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="divisible"):
        CausalDecoderBlock(16, 3, 32)
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        CausalDecoderBlock(16, 2, 32, dropout=1.0)
    with pytest.raises(ValueError, match="last dimension embed_dim=16"):
        CausalDecoderBlock(16, 2, 32)(np.zeros((1, 2, 8), "float32"))


def _layer_norm(x, layer):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * _np(layer.gamma) + _np(layer.beta)


def _heads(x, dense):  # (B, T, D) @ kernel (D, heads, hd) + bias -> (B, heads, T, hd)
    kernel = _np(dense.kernel)
    return np.einsum("btd,dnh->bnth", x, kernel) + _np(dense.bias).reshape(kernel.shape[1:])[None, :, None, :]


def _multi_head(x_q, x_kv, q, k, v, out, mask):
    """softmax(Q K^T / sqrt(hd) masked) V, heads concatenated, W_o."""
    query, key, value = _heads(x_q, q), _heads(x_kv, k), _heads(x_kv, v)
    scores = np.einsum("bnth,bnsh->bnts", query, key) / np.sqrt(query.shape[-1])
    scores = np.where(mask[:, None], scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attended = np.einsum("bnts,bnsh->bnth", weights, value)
    return np.einsum("bnth,nhd->btd", attended, _np(out.kernel)) + _np(out.bias), weights


def numpy_decoder_block(block, x, memory, source_mask):
    """The pre-LN block with encoder-decoder attention, written out (gelu exact)."""
    from scipy.special import erf

    t = x.shape[1]
    causal = np.tril(np.ones((t, t), bool))[None]  # (1, T, T)
    attended, _ = _multi_head(_layer_norm(x, block.attention_norm), _layer_norm(x, block.attention_norm),
                              block.query, block.key, block.value, block.attention_output, causal)
    h = x + attended
    cross, weights = _multi_head(_layer_norm(h, block.cross_norm), memory, block.cross_query, block.cross_key,
                                 block.cross_value, block.cross_output, source_mask[:, None, :].astype(bool))
    h = h + cross
    inner = _layer_norm(h, block.ff_norm) @ _np(block.ff_inner.kernel) + _np(block.ff_inner.bias)
    inner = 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
    return h + inner @ _np(block.ff_outer.kernel) + _np(block.ff_outer.bias), weights


def test_cross_attention_block_matches_numpy_and_its_cached_step():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    block = CausalDecoderBlock(16, 2, 32, cross_attention=True)
    x = rng.standard_normal((2, 4, 16)).astype("float32")
    memory = rng.standard_normal((2, 5, 16)).astype("float32")
    source_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    block(x, cross=(*block.precompute_cross(memory), source_mask))  # builds
    keys, values = block.precompute_cross(memory)
    outputs, _, _, weights = block(x, cross=(keys, values, source_mask))
    want, want_weights = numpy_decoder_block(block, x, memory, source_mask)
    np.testing.assert_allclose(_np(outputs), want, atol=1e-4)
    np.testing.assert_allclose(_np(weights), want_weights, atol=1e-5)
    assert np.all(_np(weights)[:, :, :, 3:][np.broadcast_to(source_mask[:, None, None, 3:] == 0, (2, 2, 4, 2))] == 0)
    # the cached step, token by token, equals the full causal pass
    cache = [np.zeros((2, 2, 4, 8), "float32")] * 2
    for t in range(4):
        y, *cache, step_weights = block.step(x[:, t], cache[0], cache[1], np.array([t, t], "int32"),
                                            cross=(keys, values, source_mask))
        np.testing.assert_allclose(_np(y), _np(outputs)[:, t], atol=1e-5)
        np.testing.assert_allclose(_np(step_weights), _np(weights)[:, :, t], atol=1e-6)
