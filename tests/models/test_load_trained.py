"""A model compiled like the trainer's loads after only `import models`, on TensorFlow and JAX.

The trainer saves `model.keras` with its compile config (Adam, the [PAD]-ignoring
cross-entropy, `MaskedAccuracy`), so `keras.saving.load_model(path)` needs every
custom object in it registered by `import models` alone: no `components`, and
on JAX no TensorFlow. This test imports nothing from `components` either.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import models
from models.metrics import MaskedAccuracy

ROOT = Path(__file__).resolve().parents[2]

LOAD = """
import json, sys
import numpy as np
import models, keras
m = keras.saving.load_model(sys.argv[1])  # compile=True: the metric is deserialized too
x = np.load(sys.argv[2])
np.save(sys.argv[3], keras.ops.convert_to_numpy(m((x["source"], x["target"]), training=False)))
print(json.dumps({
    "backend": keras.backend.backend(),
    "modules": sorted(k for k in ("components", "tensorflow") if k in sys.modules),
    "loss": type(m.loss).__name__,
}))
"""


def compiled_like_the_trainer() -> keras.Model:
    """components.trainer.model_builder.compile_model for translation, without importing it.

    Unidirectional: keras' own `Bidirectional.__init__` serializes its layer, and
    `serialize_keras_object` imports TensorFlow when it is installed, whatever
    the backend (not seqlab's doing).
    """
    model = models.AttentionSeq2Seq(12, 12, embed_dim=4, units=8, attention_units=4, bidirectional=False)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        metrics=[MaskedAccuracy()],
    )
    return model


def load_in_fresh_process(backend: str, path: Path, inputs: Path, out: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", LOAD, str(path), str(inputs), str(out)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_masked_accuracy_keeps_its_registered_name():
    assert keras.saving.get_registered_name(MaskedAccuracy) == "seqlab>MaskedAccuracy"
    assert models.MaskedAccuracy is MaskedAccuracy


@pytest.mark.slow  # both backends in fresh processes: once, in the TensorFlow pass
def test_saved_model_loads_with_only_import_models(tmp_path):
    rng = np.random.default_rng(0)
    source = rng.integers(1, 12, size=(4, 6)).astype("int32")
    target = rng.integers(1, 12, size=(4, 5)).astype("int32")
    model = compiled_like_the_trainer()
    model.train_on_batch((source, target), target)  # builds the optimizer and the metric, like a fit
    expected = keras.ops.convert_to_numpy(model((source, target), training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, source=source, target=target)

    for backend in ("tensorflow", "jax"):
        out = tmp_path / f"{backend}.npy"
        report = load_in_fresh_process(backend, path, inputs, out)
        assert report["backend"] == backend
        assert "components" not in report["modules"], report
        if backend == "jax":
            assert "tensorflow" not in report["modules"], report
        assert report["loss"] == "SparseCategoricalCrossentropy"
        np.testing.assert_allclose(np.load(out), expected, atol=1e-5, err_msg=backend)
