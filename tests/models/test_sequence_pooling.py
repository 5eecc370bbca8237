import keras
import numpy as np
import pytest

from models.layers.sequence_pooling import SequencePooling
from tests.models.layer_checks import COMPUTE, run_layer_checks

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], "float32")
LENGTHS = MASK.sum(1).astype(int)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def numpy_pool(mode, x, lengths, score_fn=None):
    rows = []
    for b, n in enumerate(lengths):
        real = x[b, :n]  # (n, features)
        if mode == "last":
            rows.append(real[-1])
        elif mode == "bidirectional_last":
            half = x.shape[-1] // 2
            rows.append(np.concatenate([real[-1, :half], real[0, half:]]))
        elif mode == "mean":
            rows.append(real.mean(0))
        elif mode == "max":
            rows.append(real.max(0))
        else:
            scores = score_fn(real)
            weights = np.exp(scores - scores.max())
            rows.append((weights / weights.sum()) @ real)
    return np.stack(rows)


def _score_fn(layer):
    v = _np(layer.score_dense.kernel)[:, 0]
    if layer.attention_dense is None:
        return lambda h: h @ v
    w, b = _np(layer.attention_dense.kernel), _np(layer.attention_dense.bias)
    return lambda h: np.tanh(h @ w + b) @ v


def _with_garbage_and_extra_padding(x, mask):
    garbage = np.where(mask[..., None] > 0, x, 1e4).astype("float32")
    garbage = np.pad(garbage, [(0, 0), (0, 3), (0, 0)], constant_values=-7.0)
    return garbage, np.pad(mask, [(0, 0), (0, 3)])


@pytest.mark.parametrize(
    "mode,units",
    [("last", None), ("bidirectional_last", None), ("mean", None), ("max", None),
     ("attention", None), ("attention", 6)],
)
def test_matches_numpy_and_ignores_padding(mode, units):
    layer = SequencePooling(mode, attention_units=units)
    pooled = _np(layer(X, mask=MASK))
    want = numpy_pool(mode, X, LENGTHS, _score_fn(layer) if mode == "attention" else None)
    np.testing.assert_allclose(pooled, want, atol=1e-6)
    garbage, longer = _with_garbage_and_extra_padding(X, MASK)
    np.testing.assert_allclose(_np(layer(garbage, mask=longer)), pooled, atol=1e-6)


def test_without_mask_uses_every_step():
    full = np.full((3,), 5)
    for mode in ("last", "bidirectional_last", "mean", "max"):
        np.testing.assert_allclose(
            _np(SequencePooling(mode)(X)), numpy_pool(mode, X, full), atol=1e-6
        )


def test_attention_weights_are_exactly_zero_at_padding():
    layer = SequencePooling("attention", attention_units=6)
    _, weights = layer(X, mask=MASK, return_attention_scores=True)
    weights = _np(weights)
    assert weights.dtype == np.float32
    assert np.all(weights[MASK == 0] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)


def test_all_padding_row_pools_to_zeros():
    mask = MASK.copy()
    mask[2] = 0
    for mode in ("last", "mean", "max", "attention"):
        pooled = _np(SequencePooling(mode)(X, mask=mask))
        np.testing.assert_array_equal(pooled[2], 0.0)
        assert np.all(np.isfinite(pooled))


def test_max_is_finite_in_float16():
    layer = SequencePooling("max", dtype="float16")
    pooled = _np(layer(X.astype("float16"), mask=MASK))
    np.testing.assert_allclose(pooled, numpy_pool("max", X, LENGTHS), atol=1e-2)


@pytest.mark.parametrize("mode", ["attention", "max"])
def test_standard_layer_checks(mode):
    attention = mode == "attention"
    run_layer_checks(
        SequencePooling,
        {"mode": mode, "attention_units": 6 if attention else None},
        [X, MASK],
        call_kwargs={"return_attention_scores": True} if attention else None,
        expected_dtypes=[COMPUTE, "float32"] if attention else None,
        run_fit=attention,  # max pooling has no weights
    )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: mode='sum'"):
        SequencePooling("sum")
    with pytest.raises(ValueError, match="attention_units=4"):
        SequencePooling("mean", attention_units=4)
    with pytest.raises(ValueError, match="even number of features"):
        SequencePooling("bidirectional_last")(X[..., :3])
    with pytest.raises(ValueError, match="needs mode='attention'"):
        SequencePooling("mean")(X, return_attention_scores=True)
