"""The trainer step: encoded TFRecords + manifest -> model.keras + history + plot.

`run(ctx)` reads `ctx.inputs["transform"]`, builds the model named by
`config.model` through `models.registry`, fits it with early stopping and
resumable backups, and writes into `ctx.output_dir`:

    model.keras            the best weights (by val_loss)
    history.json           per-epoch loss / val_loss / accuracy / val_accuracy (language models:
                           perplexity / val_perplexity instead of accuracy)
    learning_curves.png    loss and accuracy (perplexity) vs epoch, train and eval
    logs/history.csv       the raw per-epoch log (appended across resumed attempts)
    logs/tensorboard/      TensorBoard scalars (when tensorboard is installed)
    checkpoints/backup/    BackupAndRestore state while training (removed on success)

Language models read the token stream as shuffled windows or as stateful
truncated-BPTT chunks (`lm_input.py`; `stateful.py` carries the states);
the saved model is always the plain, stateless one.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import math
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import keras
from keras import ops

from components import schema
from components.trainer import input as train_input
from components.trainer import lm_input
from components.trainer.model_builder import build_compiled_model, build_model_for, compile_model, uses_char_ids
from components.trainer.precision import set_precision
from components.trainer.stateful import ResetStates, StatefulLanguageModel
from components.trainer.strategy import make_strategy
from components.trainer.task_input import char_ids_fn_for, make_task_dataset
from pipeline.faults import crash_point
from pipeline.step import StepContext

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
CURVES_FILE = "learning_curves.png"


@keras.saving.register_keras_serializable(package="seqlab")
class MaskedAccuracy(keras.metrics.Metric):
    """Token accuracy over non-[PAD] target positions.

    Args:
        pad_id: the target id that is ignored.
        name: the metric name.
    """

    def __init__(self, pad_id: int = schema.PAD_ID, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")  # (batch, T)
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")  # (batch, T)
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            mask = mask * ops.cast(ops.reshape(sample_weight, ops.shape(mask)), "float32")
        hits = ops.cast(ops.equal(y_true, predicted), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


def make_loss() -> keras.losses.Loss:
    """Cross-entropy on logits where [PAD] targets contribute nothing."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=schema.PAD_ID)


class _EpochCrashPoint(keras.callbacks.Callback):
    """`SEQLAB_FAULT=trainer:after_epoch_N` kills the process once epoch N (1-based) is backed up."""

    def on_epoch_end(self, epoch, logs=None):
        crash_point(f"trainer:after_epoch_{epoch + 1}")


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class Throughput(keras.callbacks.Callback):
    """Steady-state training speed: steps between consecutive training batches, validation excluded.

    The first batch of every epoch is not counted (tracing, input warm-up), nor
    is the time before it; `steps_per_second` covers the rest of the epochs.
    `median_step_seconds` is the median of those step times: equal to
    1 / `steps_per_second` when every step costs the same, lower when a few
    steps are slow (a busy machine, a periodic callback).
    """

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.step_seconds: list[float] = []
        self._clock = clock
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None

    def on_train_batch_end(self, batch, logs=None):
        now = self._clock()
        if self._last is not None:
            self.step_seconds.append(now - self._last)
        self._last = now

    @property
    def steps(self) -> int:
        return len(self.step_seconds)

    @property
    def steps_per_second(self) -> float | None:
        seconds = sum(self.step_seconds)
        return self.steps / seconds if seconds > 0 else None

    @property
    def median_step_seconds(self) -> float | None:
        return statistics.median(self.step_seconds) if self.step_seconds else None


class EpochPerplexity(keras.callbacks.Callback):
    """Adds `perplexity` = exp(loss) and `val_perplexity` = exp(val_loss) to each epoch's logs.

    A language model's loss is in nats per token, so its perplexity costs
    nothing per batch. Put it before the callbacks that read the logs (CSV log).
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in ("loss", "val_loss"):
            if key in logs:
                logs[key.replace("loss", "perplexity")] = math.exp(min(float(logs[key]), 700.0))  # no overflow


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the batch that crosses `minutes` of wall time (0: never).

    The epoch in progress still runs its validation, so early stopping and the
    best-weights restore see it like any other epoch.
    """

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60.0
        self._start = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds > 0 and time.perf_counter() - self._start > self.seconds:
            self.model.stop_training = True
            self.stopped_early = True


def read_manifest(transform_dir: Path) -> dict[str, Any]:
    path = Path(transform_dir) / schema.MANIFEST
    if not path.exists():
        raise ValueError(f"Transform manifest not found. Received: {path}. Run the transform step first.")
    return json.loads(path.read_text())


def _read_csv_history(path: Path) -> dict[str, list[float]]:
    """Per-epoch logs, last row wins per epoch (a resumed attempt may repeat one)."""
    rows: dict[int, dict[str, str]] = {}
    if path.exists():
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                rows[int(row["epoch"])] = row
    history: dict[str, list[float]] = {"epoch": []}
    for epoch in sorted(rows):
        history["epoch"].append(epoch + 1)
        for key, value in rows[epoch].items():
            if key != "epoch":
                history.setdefault(key, []).append(float(value))
    return history


def plot_learning_curves(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy (perplexity when there is no accuracy) vs epoch, train and eval, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history.get("epoch", [])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    second = "perplexity" if "perplexity" in history else "accuracy"  # language models log perplexity
    for ax, metric in zip(axes, ("loss", second)):
        for key, label in ((metric, "train"), (f"val_{metric}", "eval")):
            if history.get(key):
                ax.plot(epochs, history[key], marker="o", label=label)
        if metric != "accuracy" and all(v > 0 for k in (metric, f"val_{metric}") for v in history.get(k, [])):
            ax.set_yscale("log")  # losses and perplexities fall over orders of magnitude
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_callbacks(out: Path, extra: list) -> list:
    """NaN guard, `extra`, CSV log (appended across resumed attempts), backups, TensorBoard."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.TerminateOnNaN(raise_error=True),  # never save NaN weights
        *extra,
        keras.callbacks.CSVLogger(str(out / "logs" / "history.csv"), append=True),
        # The runner keeps the trainer's temp dir between attempts, so a rerun resumes here.
        keras.callbacks.BackupAndRestore(str(out / "checkpoints" / "backup")),
        _EpochCrashPoint(),  # after the backup: fault-injection tests kill here (pipeline.faults)
    ]
    if importlib.util.find_spec("tensorboard") is not None:  # optional dependency
        callbacks.append(
            keras.callbacks.TensorBoard(str(out / "logs" / "tensorboard"), write_graph=False)
        )
    return callbacks


def make_datasets(cfg, transform_dir: Path, manifest: dict[str, Any]):
    """(train, eval) datasets of `(x, y)` batches for the configured task."""
    t = cfg.train
    if cfg.task == "translation":
        return (
            train_input.make_dataset(transform_dir, "train", t.batch_size, t.bucket_boundaries,
                                     training=True, seed=t.seed, shuffle_buffer=t.shuffle_buffer),
            train_input.make_dataset(transform_dir, "eval", t.batch_size, t.bucket_boundaries),
        )
    kwargs = dict(bucket_boundaries=t.bucket_boundaries,
                  char_ids_fn=char_ids_fn_for(uses_char_ids(cfg), manifest))
    return (
        make_task_dataset(transform_dir, cfg.task, "train", t.batch_size, training=True, seed=t.seed,
                          shuffle_buffer=t.shuffle_buffer, **kwargs),
        make_task_dataset(transform_dir, cfg.task, "eval", t.batch_size, **kwargs),
    )


def make_lm_training(cfg, transform_dir: Path, manifest: dict[str, Any]):
    """(model to fit, model to save, train dataset, eval dataset, extra callbacks) of a language model.

    `train.lm_input`: "windows" fits the model itself; "stateful" fits a
    `StatefulLanguageModel` around it (states carried between batches) and
    saves the plain model inside.
    """
    t = cfg.train
    train_stream = lm_input.read_stream(transform_dir, "train")
    eval_stream = lm_input.read_stream(transform_dir, "eval")
    logger.info("Language-model streams: train %d tokens, eval %d tokens; input %s, length %d",
                len(train_stream), len(eval_stream), t.lm_input, t.sequence_length)
    lm = build_model_for(cfg, manifest)
    if t.lm_input == "stateful":
        rows = lm_input.carried_rows(len(eval_stream), t.sequence_length, t.batch_size)
        train_ds = lm_input.stateful_dataset(train_stream, t.sequence_length, t.batch_size)
        eval_ds = lm_input.stateful_dataset(eval_stream, t.sequence_length, rows)
        wrapper = StatefulLanguageModel(lm, t.batch_size, rows, name="stateful_lm")
        wrapper(ops.ones((t.batch_size, t.sequence_length), dtype="int32"), training=True)  # builds the state vars
        return compile_model(wrapper, cfg), lm, train_ds, eval_ds, [ResetStates(), EpochPerplexity()]
    train_ds = lm_input.windows_dataset(train_stream, t.sequence_length, t.batch_size, t.stride,
                                        training=True, seed=t.seed)
    eval_ds = lm_input.windows_dataset(eval_stream, t.sequence_length, t.batch_size)
    return compile_model(lm, cfg), lm, train_ds, eval_ds, [EpochPerplexity()]


def lr_decay_callback(cfg) -> list:
    """`train.lr_decay` < 1: learning rate = train.learning_rate * lr_decay ** epoch."""
    if cfg.train.lr_decay >= 1.0:
        return []
    base, decay = cfg.train.learning_rate, cfg.train.lr_decay
    return [keras.callbacks.LearningRateScheduler(lambda epoch, lr: base * decay ** epoch)]


def run(ctx: StepContext) -> dict[str, Any]:
    """Trains the model; see the module docstring for what is written."""
    cfg = ctx.config
    out = Path(ctx.output_dir)
    transform_dir = Path(ctx.inputs["transform"])
    manifest = read_manifest(transform_dir)

    policy = set_precision(cfg.train.precision)
    keras.utils.set_random_seed(cfg.train.seed)
    strategy = make_strategy(cfg.train.strategy)

    extra: list = []
    if cfg.task == "language_model":
        with strategy.scope():
            model, saved_model, train_ds, eval_ds, extra = make_lm_training(cfg, transform_dir, manifest)
    else:
        train_ds, eval_ds = make_datasets(cfg, transform_dir, manifest)
        with strategy.scope():
            model = saved_model = build_compiled_model(cfg, manifest)

    timer = _EpochTimer()
    throughput = Throughput()
    early = keras.callbacks.EarlyStopping(
        monitor=cfg.train.monitor, mode="min" if cfg.train.monitor == "val_loss" else "max",
        patience=cfg.train.patience, restore_best_weights=True,
    )
    csv_path = out / "logs" / "history.csv"
    budget = TimeBudget(cfg.train.max_minutes)
    callbacks = make_callbacks(out, [*extra, timer, throughput, early, budget, *lr_decay_callback(cfg)])
    verbose = 1 if sys.stderr.isatty() else 2
    logger.info("Training %s for up to %d epochs", cfg.model.family, cfg.train.epochs)
    with warnings.catch_warnings():
        # Bucketed datasets have no known length: Keras learns the epoch size
        # at the end of epoch 1 and warns that the input "ran out of data".
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(train_ds, validation_data=eval_ds, epochs=cfg.train.epochs,
                  callbacks=callbacks, verbose=verbose, shuffle=False)
    # EarlyStopping(restore_best_weights=True) has put the best weights (by train.monitor) back.

    saved_model.save(out / MODEL_FILE)
    history = _read_csv_history(csv_path)
    (out / HISTORY_FILE).write_text(json.dumps(history, indent=2))
    plot_learning_curves(history, out / CURVES_FILE)

    val_losses = [v for v in history.get("val_loss", []) if math.isfinite(v)]
    outputs = {
        "epochs_run": len(history["epoch"]),
        "best_val_loss": min(val_losses) if val_losses else None,
        "precision": policy,
        "params": int(saved_model.count_params()),
        "seconds_per_epoch": round(sum(timer.seconds) / max(len(timer.seconds), 1), 3),
        "train_minutes": round(sum(timer.seconds) / 60.0, 2),
        "stopped_by_time_budget": budget.stopped_early,
        "train_steps_per_second": throughput.steps_per_second,
        "train_median_step_seconds": throughput.median_step_seconds,
    }
    if cfg.task == "language_model" and throughput.steps_per_second:  # windows: the last batch may be short
        outputs["train_tokens_per_second"] = throughput.steps_per_second * cfg.train.batch_size * \
            cfg.train.sequence_length
    logger.info("Trainer outputs: %s", outputs)
    return outputs
