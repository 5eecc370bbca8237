"""The trainer's backup and early stopping across attempts (a crash, then a rerun in the same temp dir).

Tiny Dense models on random data, a few batches an epoch; the monitored
val_loss is scripted per epoch so the best epoch is known.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from components.trainer.train import AtomicBackupAndRestore, ResumableEarlyStopping

ROOT = Path(__file__).resolve().parents[2]


class Crash(RuntimeError):
    pass


class ScriptedValLoss(keras.callbacks.Callback):
    """Sets logs["val_loss"] = values[epoch] (put before early stopping); records each epoch's weights."""

    def __init__(self, values):
        super().__init__()
        self.values = values
        self.weights: dict[int, list] = {}
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.weights[epoch] = self.model.get_weights()


class CrashAfter(keras.callbacks.Callback):
    """Raises after epoch `epoch` (0-based) has been backed up (put after the backup)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash(f"after epoch {epoch + 1}")


DATA = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
TARGET = np.random.default_rng(1).normal(size=(32, 2)).astype("float32")


def tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def attempt(ckpt, values, epochs, patience=10, crash_after=None, model=None, csv=None):
    """One fit in `ckpt` (a fresh model, as a rerun builds one), the callbacks in the trainer's order:
    (model, scripted, early, history). After a fit that ends, the early-stopping files go, as in the trainer."""
    model = model or tiny_model()
    scripted = ScriptedValLoss(values)
    early = ResumableEarlyStopping(ckpt, monitor="val_loss", mode="min", patience=patience)
    callbacks = [scripted, early]
    if csv is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(csv), append=True))
    callbacks.append(AtomicBackupAndRestore(ckpt / "backup", history_csv=csv))
    if crash_after is not None:
        callbacks.append(CrashAfter(crash_after))
    history = None
    try:
        history = model.fit(DATA, TARGET, validation_data=(DATA, TARGET), batch_size=8, epochs=epochs,
                            callbacks=callbacks, verbose=0, shuffle=False)
    except Crash:
        return model, scripted, early, history
    early.remove_files()
    return model, scripted, early, history


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_torn_backup_is_discarded_with_a_warning(tmp_path, caplog):
    ckpt = tmp_path / "checkpoints"
    attempt(ckpt, [1.0, 0.9, 0.8, 0.7], epochs=4, crash_after=1)
    weights = ckpt / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # torn

    with caplog.at_level(logging.WARNING, logger="components.trainer.train"):
        model, scripted, early, history = attempt(ckpt, [1.0, 0.9, 0.8, 0.7], epochs=4)
    assert scripted.epochs == [0, 1, 2, 3]  # from epoch 1
    assert len(history.history["loss"]) == 4
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Discarding the trainer's backup" in warning.getMessage()
    assert "it cannot be read" in warning.getMessage() and "training starts from epoch 1" in warning.getMessage()
    assert not list(ckpt.glob("backup")) and not list(ckpt.glob("*.weights.h5"))  # removed after success
    assert_same(model.get_weights(), scripted.weights[3])  # epoch 4 is the best


def test_early_stopping_state_and_best_weights_survive_a_resume(tmp_path):
    ckpt = tmp_path / "checkpoints"
    values = [1.0, 0.5, 0.8, 0.9, 0.95, 0.99]  # best: epoch 2 (index 1)
    _, first, _, _ = attempt(ckpt, values, epochs=6, patience=2, crash_after=2)
    state = json.loads((ckpt / "early_stopping.json").read_text())
    assert state["best"] == 0.5 and state["best_epoch"] == 1 and state["wait"] == 1 and state["epochs_done"] == 3

    model, second, early, history = attempt(ckpt, values, epochs=6, patience=2)
    assert second.epochs == [3]  # resumed at epoch 4; wait 1 -> 2 = patience: stops there
    assert early.best == 0.5 and early.best_epoch == 1 and early.stopped_epoch == 3
    assert_same(model.get_weights(), first.weights[1])  # the best epoch of the first attempt
    assert not (ckpt / "early_stopping.json").exists() and not (ckpt / "backup").exists()


@pytest.mark.parametrize("dies", ["best", "backup"])
def test_a_crash_mid_write_leaves_the_previous_files_loadable(tmp_path, caplog, dies):
    ckpt = tmp_path / "checkpoints"
    # "best": epoch 3 improves, the best-weights write dies; "backup": it does not, the backup write dies
    values = [1.0, 0.5, 0.4, 0.3, 0.2] if dies == "best" else [1.0, 0.5, 0.6, 0.3, 0.2]
    _, first, _, _ = attempt(ckpt, values, epochs=5, crash_after=1)
    state_before = (ckpt / "early_stopping.json").read_text()

    model = tiny_model()
    real_save = model.save_weights

    def torn_save(filepath, overwrite=True, **kwargs):
        Path(filepath).write_bytes(b"\x89HDF\r\n\x1a\n torn")  # half a file, then the crash
        raise OSError("disk full")

    model.save_weights = torn_save
    with pytest.raises(OSError, match="disk full"):
        attempt(ckpt, values, epochs=5, model=model)
    model.save_weights = real_save

    if dies == "best":
        assert (ckpt / "early_stopping.json").read_text() == state_before
    state = json.loads((ckpt / "early_stopping.json").read_text())
    assert state["best_epoch"] == 1
    probe = tiny_model()
    probe.load_weights(str(ckpt / state["weights"]))
    assert_same(probe.get_weights(), first.weights[1])
    probe.load_weights(str(ckpt / "backup" / "latest.weights.h5"))
    assert json.loads((ckpt / "backup" / "training_metadata.json").read_text())["epoch"] == 2

    with caplog.at_level(logging.WARNING, logger="components.trainer.train"):
        model, third, early, _ = attempt(ckpt, values, epochs=5)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert third.epochs == [2, 3, 4] and early.best_epoch == 4
    assert_same(model.get_weights(), third.weights[4])


def test_a_crash_while_an_improving_epoch_is_backed_up_keeps_the_earlier_best(tmp_path):
    ckpt = tmp_path / "checkpoints"
    _, first, _, _ = attempt(ckpt, [1.0, 0.5, 0.9, 0.9], epochs=4, patience=1, crash_after=1)  # best: epoch 2

    model = tiny_model()
    real_save, calls = model.save_weights, []

    def backup_dies(filepath, overwrite=True, **kwargs):  # the best weights save, then the backup's dies
        calls.append(filepath)
        if len(calls) == 2:
            raise OSError("killed while writing the backup")
        return real_save(filepath, overwrite=overwrite, **kwargs)

    model.save_weights = backup_dies
    with pytest.raises(OSError, match="killed"):
        attempt(ckpt, [1.0, 0.5, 0.4, 0.9], epochs=4, patience=1, model=model)  # epoch 3 improves
    assert json.loads((ckpt / "backup" / "training_metadata.json").read_text())["epoch"] == 2

    # the rerun redoes epoch 3 (this time no better): the best is still epoch 2 of the first attempt
    model, third, early, _ = attempt(ckpt, [1.0, 0.5, 0.7, 0.8], epochs=4, patience=1)
    assert third.epochs == [2] and early.best == 0.5 and early.best_epoch == 1 and early.stopped_epoch == 2
    assert_same(model.get_weights(), first.weights[1])


def test_a_crash_after_an_early_stop_does_not_train_on(tmp_path):
    ckpt = tmp_path / "checkpoints"
    values = [1.0, 0.5, 0.8, 0.9, 0.95, 0.99]
    _, first, early, _ = attempt(ckpt, values, epochs=6, patience=1, crash_after=2)  # stops after epoch 3
    assert early.stopped_epoch == 2
    backup = AtomicBackupAndRestore(ckpt / "backup")
    rerun = ResumableEarlyStopping(ckpt, monitor="val_loss", mode="min", patience=1)
    best = rerun.stopped_before(backup.completed_epochs())
    assert backup.completed_epochs() == 3 and best is not None
    probe = tiny_model()
    probe.load_weights(str(best))
    assert_same(probe.get_weights(), first.weights[1])
    assert rerun.stopped_before(2) is None  # a backup of another epoch: resume as usual


def test_a_restart_drops_the_history_rows_of_the_discarded_attempt(tmp_path):
    ckpt, csv = tmp_path / "checkpoints", tmp_path / "history.csv"
    attempt(ckpt, [1.0, 0.9, 0.8, 0.7], epochs=4, crash_after=2, csv=csv)
    assert [line.split(",")[0] for line in csv.read_text().splitlines()] == ["epoch", "0", "1", "2"]
    attempt(ckpt, [1.0, 0.9, 0.8, 0.7], epochs=4, crash_after=3, csv=csv)  # resumed at epoch 4: rows kept
    assert [line.split(",")[0] for line in csv.read_text().splitlines()] == ["epoch", "0", "1", "2", "3"]
    weights = ckpt / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # torn: the next attempt starts from epoch 1
    attempt(ckpt, [1.0, 2.0, 3.0, 4.0], epochs=4, patience=1, csv=csv)  # stops after epoch 2
    rows = [line.split(",") for line in csv.read_text().splitlines()]
    assert [r[0] for r in rows] == ["epoch", "0", "1"]  # not the old attempt's epochs 3 and 4
    assert float(rows[2][rows[0].index("val_loss")]) == 2.0  # this attempt's rows


@pytest.mark.slow
def test_a_built_trainer_model_loads_after_only_import_models(tmp_path):
    """model_builder.build_compiled_model (translation: MaskedAccuracy) -> model.keras -> fresh TF and JAX processes."""
    from components.trainer.model_builder import build_compiled_model
    from serving.schema import read_manifest
    from pipeline.config import Config, ModelConfig, TrainConfig
    from tests.components.test_trainer_input import write_toy_transform

    config = Config(model=ModelConfig(embed_dim=8, units=16, attention_units=8), train=TrainConfig(precision="float32"))
    manifest = read_manifest(write_toy_transform(tmp_path / "transform", {"train": 8, "eval": 4, "test": 4}))
    model = build_compiled_model(config, manifest)
    source = np.array([[5, 6, 7, 0]], dtype="int32")
    target = np.array([[2, 5, 6, 7]], dtype="int32")
    model.train_on_batch((source, target), target)
    expected = keras.ops.convert_to_numpy(model((source, target)))
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "expected.npy", expected)

    script = (
        "import sys, numpy as np, models, keras\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "assert 'components' not in sys.modules, 'components imported'\n"
        "out = keras.ops.convert_to_numpy(m((np.array([[5, 6, 7, 0]]), np.array([[2, 5, 6, 7]]))))\n"
        "np.testing.assert_allclose(out, np.load(sys.argv[2]), atol=1e-5)\n"
    )
    for backend in ("tensorflow", "jax"):
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.keras"),
                                 str(tmp_path / "expected.npy")], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{backend}: {result.stderr[-3000:]}"
