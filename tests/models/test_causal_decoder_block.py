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
