"""Shared checks every custom layer of `models/layers` must pass.

`run_layer_checks` calls a layer eagerly and symbolically, round-trips its
config, saves and reloads it inside a functional model (`.keras`) with equal
outputs, runs one `fit` step, and checks output/weight dtypes under the
`mixed_float16` and `mixed_bfloat16` policies (restoring the global policy).
`sigmoid` and `lstm_equations` are NumPy references the layer tests share.
"""

import os
import tempfile

import keras
import numpy as np

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_equations(kernel, recurrent_kernel, bias, x):
    """Keras's LSTM run on `x` `(batch, time, features)` from zero states, as the lecture writes it:
    i, f, o = sig(.), g = tanh(.) of x W + h U + b (gates in Keras's order i, f, g, o); c' = f c + i g;
    h' = o tanh(c'). Returns (outputs `(batch, time, units)`, last h, last c)."""
    units = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], units), "float32")
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


COMPUTE = "compute"  # placeholder for "the policy's compute dtype"


def _to_inputs(args):
    """Keras `Input`s mirroring a (nested) list of NumPy arrays."""
    return keras.tree.map_structure(
        lambda a: keras.Input(shape=a.shape[1:], dtype=str(a.dtype)), args
    )


def _flat_numpy(outputs):
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]


def run_layer_checks(
    layer_cls,
    init_kwargs,
    args,
    call_kwargs=None,
    expected_dtypes=None,
    run_fit=True,
):
    """Runs the standard checks on `layer_cls(**init_kwargs)(*args, **call_kwargs)`.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor kwargs (without `dtype`).
        args: list of positional call arguments (NumPy arrays, possibly nested
            in lists); the first dimension of every array is the batch.
        call_kwargs: extra non-tensor call kwargs (e.g. flags).
        expected_dtypes: list, one entry per flattened output, of a dtype
            string or `COMPUTE`, checked under mixed precision. Defaults to
            `COMPUTE` for every output.
        run_fit: whether to run one `fit` step on the first output.

    Returns:
        The eager outputs (flattened NumPy list) in float32.
    """
    call_kwargs = call_kwargs or {}

    # Eager call.
    layer = layer_cls(**init_kwargs)
    eager = _flat_numpy(layer(*args, **call_kwargs))
    assert all(np.all(np.isfinite(o)) for o in eager if o.dtype.kind == "f")

    # Config round trip.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config

    # Symbolic call inside a functional model; its outputs equal the eager ones.
    symbolic_inputs = _to_inputs(args)
    outputs = layer(*symbolic_inputs, **call_kwargs)
    model = keras.Model(keras.tree.flatten(symbolic_inputs), keras.tree.flatten(outputs))
    flat_args = keras.tree.flatten(args)
    functional = _flat_numpy(model(flat_args))
    for a, b in zip(eager, functional):
        np.testing.assert_allclose(a, b, atol=1e-6)

    # `.keras` save / load round trip with equal outputs.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    for a, b in zip(functional, _flat_numpy(restored(flat_args))):
        np.testing.assert_allclose(a, b, atol=1e-6)

    # One fit step on the first output.
    if run_fit:
        first = keras.tree.flatten(outputs)[0]
        fit_model = keras.Model(keras.tree.flatten(symbolic_inputs), first)
        fit_model.compile(optimizer="sgd", loss="mse")
        target = np.zeros(eager[0].shape, "float32")
        history = fit_model.fit(flat_args, target, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])

    # Mixed precision.
    original = keras.config.dtype_policy()
    try:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            keras.config.set_dtype_policy(policy)
            mixed = layer_cls(**init_kwargs)
            flat = keras.tree.flatten(mixed(*args, **call_kwargs))
            expected = expected_dtypes or [COMPUTE] * len(flat)
            compute = keras.config.dtype_policy().compute_dtype
            for output, want in zip(flat, expected):
                want = compute if want == COMPUTE else want
                got = keras.backend.standardize_dtype(output.dtype)
                assert got == want, f"{policy}: output dtype {got} != {want}"
            for weight in mixed.weights:
                assert keras.backend.standardize_dtype(weight.dtype) == "float32"
    finally:
        keras.config.set_dtype_policy(original)
    return eager


def assert_model_round_trip(model, inputs, directory, atol=1e-6):
    """Saves `model` as `.keras`, reloads it, and checks class, config and outputs on `inputs`; returns it."""
    expected = _flat_numpy(model(inputs))
    path = os.path.join(str(directory), "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    for got, want in zip(_flat_numpy(restored(inputs)), expected):
        np.testing.assert_allclose(got, want, atol=atol)
    return restored


def assert_float32_logits_under_mixed_precision(build_model, inputs):
    """`build_model()` under `mixed_float16` returns finite float32 outputs; the global policy is restored."""
    original = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        logits = build_model()(inputs)
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))
    finally:
        keras.config.set_dtype_policy(original)
