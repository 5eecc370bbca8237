"""A non-chief member of a `TF_CONFIG` cluster: it trains with the chief and publishes nothing.

Every machine of the cluster runs the same `seqlab run` command with the same `--root` on shared storage and
its own `TF_CONFIG`. The chief (task type `chief`, or worker 0 of a cluster without one: `pipeline.lock.is_chief`)
runs the whole pipeline as on one machine: the root lock, metadata, artifacts, `summary.json`, the push. Every
other member calls `participate` instead, which

0. computes the same fingerprints (same config, code and sources give the same ones) and notes what is
   published, then joins the cluster (`join_cluster`: TensorFlow sets up collective ops only before its first
   op, and the chief, which does the same after taking the root lock, waits there for every worker, so
   nothing published before this point comes from this run);
1. waits until the chief has published the trainer's upstream artifact (transform) -- or returns at once when
   the chief will not train: the trainer's artifact is already published (cached), or `--until` stops before it;
2. runs the trainer component as one more `MultiWorkerMirroredStrategy` worker, its `output_dir` a temp dir
   on local disk (model file, history, plot, checkpoints, TensorBoard logs: TF's multi-worker guide writes a
   non-chief's files to temp dirs and discards them), removed at the end;
3. returns a summary that says what it did; it takes no lock and writes no metadata row, no summary.json, no
   artifact, no push.

Resume: when the chief resumes an interrupted trainer from its backup, every worker must start at the same
epoch, so a participant copies the chief's `checkpoints/` (from `artifacts/trainer/.<fp>.incomplete/`) into its
temp dir before it starts training; the chief cannot finish an epoch, and so cannot write them, while a
worker is not training with it. With
`--no-cache` nothing is copied and the upstream artifact must be published anew by this run of the chief.

`SEQLAB_WORKER_KEEP_DIR=DIR` (tests) moves the temp dir to DIR instead of deleting it.

Example:

>>> from pipeline.config import load_config
>>> summary = participate(load_config(["quickstart"], ["train.strategy=multi_worker"]), "/shared/runs")  # doctest: +SKIP
>>> summary["steps"][0]["status"], summary["published"]  # doctest: +SKIP
('ran', False)
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from components.step import StepContext
from pipeline import quiet
from pipeline.config import Config
from pipeline.dag import STEPS, fingerprints, steps_until
from pipeline.input_digest import digest_sources
from pipeline.lock import cluster_role

logger = logging.getLogger(__name__)

KEEP_DIR_ENV = "SEQLAB_WORKER_KEEP_DIR"
OUTPUTS_FILE = "_outputs.json"  # what the runner writes last into a finished artifact
SUMMARY_FILE = "summary.json"
TRAINER = next(s for s in STEPS if s.name == "trainer")


def join_cluster(config: Config, steps: Sequence) -> None:
    """Makes the process's multi-worker strategy now, when this run trains under `TF_CONFIG` with
    `train.strategy=multi_worker` (before any step runs TensorFlow); returns once every worker has joined."""
    if config.train.strategy != "multi_worker" or TRAINER not in steps or cluster_role() is None:
        return
    logger.info("Joining the TF_CONFIG cluster as %s %d (waits for every worker)", *cluster_role())

    def make():
        from components.trainer.devices import multi_worker_strategy

        multi_worker_strategy()

    quiet.import_tensorflow(setup=make)


class ChiefNotReadyError(RuntimeError):
    """The chief's run ended, or the wait ran out, before it published what this worker trains on."""


def _stat(path: Path) -> tuple[int, int] | None:
    """(inode, mtime_ns) of `path`, or None: a change means it was written again, whatever the clocks say."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _chief_status(root: Path) -> str | None:
    try:
        return json.loads((root / SUMMARY_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def upstream_state(root: Path, upstream: dict[str, Path]) -> dict[Path, Any]:
    """The stat of every `upstream` artifact's outputs file and of the root's summary.json: what
    `wait_for_upstream` compares against to tell what this run of the chief published or ended."""
    return {path: _stat(path) for path in [*(p / OUTPUTS_FILE for p in upstream.values()), root / SUMMARY_FILE]}


def wait_for_upstream(root: Path, upstream: dict[str, Path], trainer_dir: Path, use_cache: bool,
                      timeout: float | None, poll: float = 1.0,
                      clock: Callable[[], float] = time.monotonic, before: dict[Path, Any] | None = None) -> bool:
    """Waits until the chief has published every `upstream` artifact; False when the chief will not train.

    Args:
        root: the run root (its summary.json tells when the chief's run is over).
        upstream: {step: its final artifact dir}.
        trainer_dir: the trainer's final artifact dir (published: the chief reuses it, nothing to train).
        use_cache: False (--no-cache): artifacts published before this call do not count.
        timeout: seconds to wait (None: forever).
        before: `upstream_state` taken before this worker joined the cluster (the chief runs no step until
            every worker has joined, so nothing in it comes from this run); taken now when None.

    Raises:
        ChiefNotReadyError: the chief's run ended without publishing them, or `timeout` passed.
    """
    markers = [path / OUTPUTS_FILE for path in upstream.values()]
    before = upstream_state(root, upstream) if before is None else before
    summary_before = before[root / SUMMARY_FILE]
    deadline = None if timeout is None else clock() + timeout
    logger.info("Waiting for the chief to publish %s", ", ".join(str(p) for p in upstream.values()))
    while True:
        if use_cache and (trainer_dir / OUTPUTS_FILE).exists():
            return False
        if all(_stat(m) is not None and (use_cache or _stat(m) != before[m]) for m in markers):
            return True
        status = _chief_status(root)
        if _stat(root / SUMMARY_FILE) != summary_before and status in ("failed", "interrupted", "succeeded"):
            raise ChiefNotReadyError(f"The chief's run in {root} ended ({status}) without publishing "
                                     f"{', '.join(upstream)}; see its summary.json")
        if deadline is not None and clock() > deadline:
            raise ChiefNotReadyError(f"The chief did not publish {', '.join(upstream)} under {root} within "
                                     f"{timeout:g}s; start the chief with the same command and --root")
        time.sleep(poll)


def _copy_chief_checkpoints(chief_tmp: Path, out: Path) -> None:
    checkpoints = chief_tmp / "checkpoints"
    if checkpoints.is_dir():
        shutil.copytree(checkpoints, out / "checkpoints")
        logger.info("Resuming with the chief's checkpoints from %s", checkpoints)


def _discard(out: Path) -> None:
    keep = os.environ.get(KEEP_DIR_ENV)
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.move(str(out), keep)
    else:
        shutil.rmtree(out, ignore_errors=True)


def participate(config: Config, root: str | Path, until: str | None = None, use_cache: bool = True,
                beam_args: Sequence[str] = (), timeout: float | None = 3600.0) -> dict[str, Any]:
    """Trains as a non-chief `TF_CONFIG` worker once the chief's upstream artifacts are there (module docstring).

    Returns:
        {"role", "status", "published": False, "steps": [the trainer's record, if it ran]}.

    Raises:
        ValueError: `train.strategy` is not `multi_worker` (this worker would train a model of its own).
        ChiefNotReadyError: see `wait_for_upstream`.
    """
    role = cluster_role()
    kind, index = role if role else ("worker", 0)
    summary: dict[str, Any] = {"role": f"{kind} {index}", "status": "succeeded", "published": False,
                               "steps": [], "metrics": {}, "blessed": None, "export_dir": None}
    steps = steps_until(until)
    if TRAINER not in steps:
        logger.info("TF_CONFIG %s %d: --until %s stops before the trainer; nothing to do here", kind, index, until)
        return summary
    if config.train.strategy != "multi_worker":
        raise ValueError(f"TF_CONFIG names this process {kind} {index}, not the chief: it only trains, with "
                         f"train.strategy='multi_worker'. Received: train.strategy={config.train.strategy!r}")
    root = Path(root).resolve()
    sources = {step.name: digest_sources(step.sources(config), tfds_data_dir=config.data.tfds_data_dir)
               for step in steps if step.source_keys}
    fps = fingerprints(config, steps, sources)
    final = root / "artifacts" / TRAINER.name / fps[TRAINER.name]
    upstream = {name: root / "artifacts" / name / fps[name] for name in TRAINER.upstream}
    before = upstream_state(root, upstream)  # before joining: the chief publishes nothing of this run until then
    join_cluster(config, steps)
    if not wait_for_upstream(root, upstream, final, use_cache, timeout, before=before):
        logger.info("The trainer's artifact %s is published: the chief reuses it, nothing to train here", final)
        summary["steps"].append({"name": TRAINER.name, "status": "cached", "seconds": 0.0, "outputs": {}})
        return summary

    out = Path(tempfile.mkdtemp(prefix=f"seqlab-{kind}{index}-"))
    started = time.perf_counter()
    try:
        if use_cache:
            _copy_chief_checkpoints(final.with_name(f".{fps[TRAINER.name]}.incomplete"), out)
        ctx = StepContext(config=config, inputs=upstream, output_dir=out, root=root, beam_args=tuple(beam_args))
        logger.info("[trainer] running as TF_CONFIG %s %d; its files go to %s (discarded)", kind, index, out)
        quiet.import_tensorflow()
        outputs = dict(importlib.import_module(TRAINER.component).run(ctx) or {})
    finally:
        _discard(out)
    seconds = time.perf_counter() - started
    summary["steps"].append({"name": TRAINER.name, "status": "ran", "seconds": round(seconds, 3),
                             "outputs": outputs})
    return summary
