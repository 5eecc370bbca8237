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
    checkpoints/backup/    BackupAndRestore state while training, replaced whole each epoch (removed on success)
    checkpoints/early_stopping.json, best.epochNNNN.weights.h5
                           early-stopping state and best weights while training (removed on success)

Language models read the token stream as shuffled windows or as stateful
truncated-BPTT chunks (`LanguageModelTask.training`); the saved model is
always the plain, stateless one.

Under `train.strategy: multi_worker` every worker of the `TF_CONFIG` cluster runs
this function in step; each writes only into its own `ctx.output_dir`, and the
runner gives a non-chief worker a local temp dir that it deletes afterwards
(`pipeline.worker`), so only the chief's files are published: TF's multi-worker
pattern of chief-only writes.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import math
import os
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import keras

from components.plots import plot_learning_curves
from components.registry import get_task
from components.step import StepContext
from components.trainer.devices import make_strategy, seed_everything, set_precision
from serving import schema
from serving.faults import crash_point

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
CURVES_FILE = "learning_curves.png"


class _EpochCrashPoint(keras.callbacks.Callback):
    """`SEQLAB_FAULT=trainer:after_epoch_N` kills the process once epoch N (1-based) is backed up."""

    def on_epoch_end(self, epoch, logs=None):
        crash_point(f"trainer:after_epoch_{epoch + 1}")


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _model_state(model) -> list:
    """The model's and its optimizer's variables (the optimizer built first, as a weights load would)."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = list(model.variables)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return variables


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup is replaced whole at each epoch end, and never blocks a rerun.

    Each epoch's backup is written into `.<name>.partial/` beside `backup_dir`,
    then renamed over it (the old one is moved aside to `.<name>.old/` for the
    instant between the two renames, and taken back if the process dies there).
    A backup that still cannot be read (torn by a crash of an older version,
    edited by hand, written by another model) is discarded with a WARNING and
    training starts from epoch 1, the model's and optimizer's variables as they
    were. Only `save_freq="epoch"`.
    """

    WEIGHTS = "latest.weights.h5"  # the names BackupAndRestore reads
    METADATA = "training_metadata.json"

    def __init__(self, backup_dir: str | Path, history_csv: str | Path | None = None):
        super().__init__(str(backup_dir), save_freq="epoch")
        self._dir = Path(backup_dir)
        self._partial = self._dir.with_name(f".{self._dir.name}.partial")
        self._old = self._dir.with_name(f".{self._dir.name}.old")
        self._history_csv = None if history_csv is None else Path(history_csv)

    def completed_epochs(self) -> int:
        """How many epochs the backup holds (0 when there is none or its metadata cannot be read)."""
        self._recover()
        try:
            return int(json.loads((self._dir / self.METADATA).read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def discard(self) -> None:
        """Removes the backup (training is over)."""
        self._recover()
        _rmtree(self._dir)

    def _start(self, start: int) -> None:
        """Training starts at (0-based) epoch `start`: the history's rows of later epochs are from an attempt
        that this one replaces (rewritten in place: CSVLogger already holds the file open for appending)."""
        if self._history_csv is None or not self._history_csv.exists():
            return
        with self._history_csv.open("r+", newline="") as f:
            lines = f.readlines()
            kept = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].strip().isdigit()
                                and int(line.split(",", 1)[0]) < start]
            if len(kept) != len(lines):
                f.seek(0)
                f.writelines(kept)
                f.truncate()
                logger.info("history.csv: dropped %d rows of epochs from %d on, left by an earlier attempt",
                            len(lines) - len(kept), start + 1)

    def _recover(self) -> None:
        if not self._dir.exists() and self._old.exists():  # died between the two renames
            self._old.rename(self._dir)
        _rmtree(self._old)
        _rmtree(self._partial)

    def on_train_begin(self, logs=None):
        self._recover()
        if not self._dir.exists() or not self.model.built:
            super().on_train_begin(logs)  # nothing to resume / the parent's own error
            self._start(0)
            return
        weights, metadata = self._dir / self.WEIGHTS, self._dir / self.METADATA
        error = None
        if weights.exists() != metadata.exists():
            error = f"{(metadata if weights.exists() else weights).name} is missing"
        else:
            variables = _model_state(self.model)
            before = [v.numpy() for v in variables]
            try:
                super().on_train_begin(logs)
            except (OSError, ValueError, KeyError, TypeError) as e:
                for variable, value in zip(variables, before):  # a load may stop half-way
                    variable.assign(value)
                error = f"{type(e).__name__}: {e}"
            else:
                self._start(self.completed_epochs())
                return
        logger.warning("Discarding the trainer's backup %s: it cannot be read (%s); training starts from epoch 1",
                       self._dir, error)
        _rmtree(self._dir)
        self._start(0)

    def on_epoch_end(self, epoch, logs=None):
        _rmtree(self._partial)
        self._partial.mkdir(parents=True)
        self.model.save_weights(str(self._partial / self.WEIGHTS), overwrite=True)
        (self._partial / self.METADATA).write_text(json.dumps({"epoch": epoch + 1, "batch": 0}))
        if self._dir.exists():
            self._dir.rename(self._old)
        self._partial.rename(self._dir)
        _rmtree(self._old)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        _rmtree(self._partial)
        _rmtree(self._old)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping(restore_best_weights=True) whose state survives a resumed `fit`.

    At each epoch end the state (best, best_epoch, wait, whether it stopped
    training) goes to `<state_dir>/early_stopping.json` and, on an improvement,
    the weights to `<state_dir>/best.epochNNNN.weights.h5` (each written under a
    temp name, then `os.replace`d; the json names the weights file, so the two
    always agree). The json also keeps the previous epoch's state, and its
    weights file stays until a later state supersedes it: a crash while the
    backup of epoch N is written (the backup still says N - 1) resumes from the
    state of epoch N - 1, not from nothing. When `fit` resumes at epoch s
    (BackupAndRestore), the saved state that covers s is taken up
    (wait = s - 1 - best_epoch); at train end the best weights over all
    attempts are put back. Put it before the backup callback, so a backed-up
    epoch always has its state saved. The trainer removes the files
    (`remove_files`) once the backup is gone, never before.
    """

    STATE = "early_stopping.json"

    def __init__(self, state_dir: str | Path, **kwargs):
        kwargs["restore_best_weights"] = True
        super().__init__(**kwargs)
        self.state_dir = Path(state_dir)
        self._saved: list[dict] = []
        self._resolved = True
        self._best_file: Path | None = None

    def _usable(self, state: Any) -> bool:
        return (isinstance(state, dict) and state.get("monitor") == self.monitor
                and (self.state_dir / state["weights"]).exists())

    def _read_states(self) -> list[dict]:
        """The saved states that can be taken up: the latest epoch's, then the one before it."""
        path = self.state_dir / self.STATE
        if not path.exists():
            return []
        try:
            state = json.loads(path.read_text())
            return [s for s in (state, state.get("previous")) if self._usable(s)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("Ignoring the early-stopping state %s: %s", path, e)
            return []

    def stopped_before(self, start: int) -> Path | None:
        """The best weights file when training had already stopped early after `start` epochs, else None.

        A crash between that early stop and the end of `fit` leaves a backup at
        epoch `start`; resuming would train epochs a clean run never trains.
        """
        for state in self._read_states():
            if state.get("stopped") and state["epochs_done"] == start:
                return self.state_dir / state["weights"]
        return None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._best_file = None
        self._saved = self._read_states()
        self._resolved = False

    def _resume(self, start: int) -> None:
        """Takes up a saved state if one covers a fit that starts at (0-based) epoch `start`."""
        self._resolved = True
        states, self._saved = self._saved, []
        if not states or start == 0:
            return
        state = next((s for s in states if s["best_epoch"] < start <= s["epochs_done"]), None)
        if state is None:
            logger.info("Early stopping starts afresh at epoch %d (its saved state covers epochs 1-%d)",
                        start + 1, states[0]["epochs_done"])
            return
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = start - 1 - self.best_epoch
        self._best_file = self.state_dir / state["weights"]
        logger.info("Early stopping resumed at epoch %d: best %s %.6g at epoch %d, wait %d",
                    start + 1, self.monitor, self.best, self.best_epoch + 1, self.wait)

    def on_epoch_begin(self, epoch, logs=None):
        if not self._resolved:
            self._resume(epoch)

    def on_epoch_end(self, epoch, logs=None):
        # Keras's rule, less its first-epoch shortcut (best_weights None -> this epoch is the best), which is
        # wrong after a resume: the best then lives in a file, not in best_weights.
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is not None and epoch >= self.start_from_epoch:
            self.wait += 1
            if self._is_improvement(current, self.best):
                self.best = float(current)
                self.best_epoch = epoch
                self.best_weights = self.model.get_weights()
                self._save_best_weights(epoch)
                if self.baseline is None or self._is_improvement(current, self.baseline):
                    self.wait = 0
            elif self.wait >= self.patience and epoch > 0:
                self.stopped_epoch = epoch
                self.model.stop_training = True
        self._save_state(epoch)

    def _save_best_weights(self, epoch: int) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"best.epoch{epoch + 1:04d}.weights.h5"
        partial = self.state_dir / f".partial.{path.name}"
        self.model.save_weights(str(partial), overwrite=True)
        os.replace(partial, path)
        self._best_file = path

    def _save_state(self, epoch: int) -> None:
        if self._best_file is None:
            return  # nothing evaluated yet
        self.state_dir.mkdir(parents=True, exist_ok=True)
        previous = next(iter(self._read_states()), None)
        if previous is not None:
            previous.pop("previous", None)
            if previous["epochs_done"] != epoch:  # not the epoch before this one (e.g. a fresh start)
                previous = None
        state = {"monitor": self.monitor, "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                 "epochs_done": epoch + 1, "stopped": self.stopped_epoch == epoch and epoch > 0,
                 "weights": self._best_file.name, "previous": previous}
        partial = self.state_dir / f".partial.{self.STATE}"
        partial.write_text(json.dumps(state))
        os.replace(partial, self.state_dir / self.STATE)
        keep = {self._best_file.name, *([previous["weights"]] if previous else [])}
        for stale in self.state_dir.glob("best.epoch*.weights.h5"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        if not self._resolved and self._saved:  # resumed after the last epoch: no epoch ran
            self._resume(self._saved[0]["epochs_done"])
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        elif self._best_file is not None:
            self.model.load_weights(str(self._best_file))
        if self.stopped_epoch > 0:
            logger.info("Early stopping at epoch %d; the best weights are those of epoch %d",
                        self.stopped_epoch + 1, self.best_epoch + 1)
        self.best_weights = None

    def remove_files(self) -> None:
        """Removes the state and best weights (call once the backup is gone: a rerun no longer resumes)."""
        for path in [self.state_dir / self.STATE, self.state_dir / f".partial.{self.STATE}",
                     *self.state_dir.glob("best.epoch*.weights.h5"), *self.state_dir.glob(".partial.best.*")]:
            path.unlink(missing_ok=True)


class Throughput(keras.callbacks.Callback):
    """Steady-state training speed: steps between consecutive training batches, validation excluded.

    The first batch of every epoch is not counted (tracing, input warm-up), nor
    is the time before it; `steps_per_second` covers the rest of the epochs.
    `median_step_seconds` is the median of those step times: equal to
    1 / `steps_per_second` when every step costs the same, lower when a few
    steps are slow (a busy machine, a periodic callback). `epoch_seconds` times whole epochs, validation
    included.
    """

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.step_seconds: list[float] = []
        self.epoch_seconds: list[float] = []
        self._clock = clock
        self._last = None
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)

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


def make_callbacks(out: Path, extra: list) -> list:
    """NaN guard, `extra`, CSV log (appended across resumed attempts), backups, TensorBoard."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.TerminateOnNaN(raise_error=True),  # never save NaN weights
        *extra,
        keras.callbacks.CSVLogger(str(out / "logs" / "history.csv"), append=True),
        # The runner keeps the trainer's temp dir between attempts, so a rerun resumes here.
        AtomicBackupAndRestore(out / "checkpoints" / "backup", history_csv=out / "logs" / "history.csv"),
        _EpochCrashPoint(),  # after the backup: fault-injection tests kill here (serving.faults)
    ]
    if importlib.util.find_spec("tensorboard") is not None:  # optional dependency
        callbacks.append(
            keras.callbacks.TensorBoard(str(out / "logs" / "tensorboard"), write_graph=False)
        )
    return callbacks


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
    manifest = schema.read_manifest(transform_dir)

    policy = set_precision(cfg.train.precision)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    strategy = make_strategy(cfg.train.strategy)

    task = get_task(cfg.task)
    with strategy.scope():
        training = task.training(cfg, transform_dir, manifest)
    model, saved_model = training.model, training.saved_model

    throughput = Throughput()
    early = ResumableEarlyStopping(  # before the backup (make_callbacks): its state is saved first
        out / "checkpoints", monitor=cfg.train.monitor, mode="min" if cfg.train.monitor == "val_loss" else "max",
        patience=cfg.train.patience,
    )
    csv_path = out / "logs" / "history.csv"
    budget = TimeBudget(cfg.train.max_minutes)
    callbacks = make_callbacks(out, [*training.callbacks, throughput, early, budget, *lr_decay_callback(cfg)])
    backup = next(c for c in callbacks if isinstance(c, AtomicBackupAndRestore))
    done = backup.completed_epochs()
    stopped_best = early.stopped_before(done) if done and model.built else None
    if stopped_best is not None:  # a crash came after the early stop, before the end of fit
        logger.info("Training had stopped early after epoch %d; taking its best weights (%s)", done,
                    stopped_best.name)
        _model_state(model)  # the optimizer's variables too, as the weights file holds them
        model.load_weights(str(stopped_best))
        backup.discard()
    else:
        logger.info("Training %s for up to %d epochs", cfg.model.family, cfg.train.epochs)
        with warnings.catch_warnings():
            # Bucketed datasets have no known length: Keras learns the epoch size
            # at the end of epoch 1 and warns that the input "ran out of data".
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            model.fit(training.train, validation_data=training.eval, epochs=cfg.train.epochs, callbacks=callbacks,
                      verbose=1 if sys.stderr.isatty() else 2, shuffle=False)
        # ResumableEarlyStopping has put the best weights (by train.monitor, over all attempts) back.
    early.remove_files()  # only now: the backup is gone (BackupAndRestore removes it at train end)

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
        "seconds_per_epoch": round(sum(throughput.epoch_seconds) / max(len(throughput.epoch_seconds), 1), 3),
        "train_minutes": round(sum(throughput.epoch_seconds) / 60.0, 2),
        "stopped_by_time_budget": budget.stopped_early,
        "train_steps_per_second": throughput.steps_per_second,
        "train_median_step_seconds": throughput.median_step_seconds,
    }
    outputs.update(task.training_outputs(cfg, throughput.steps_per_second))
    outputs.update(training.outputs)
    logger.info("Trainer outputs: %s", outputs)
    return outputs
