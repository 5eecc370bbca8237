"""Runs the step graph locally, step by step, with caching and metadata.

Each step writes into `<root>/artifacts/<step>/.<fingerprint>.incomplete/`
and the runner renames that to `<root>/artifacts/<step>/<fingerprint>/` only
when the component returns. A finished artifact is therefore complete by
construction, and a crashed step leaves only a dot-folder that no later run
takes for finished (the trainer's is kept so that it resumes from its
checkpoints).

A run holds the root's lock (`pipeline.lock`) from start to end; what it cleans up after a dead run and how
SIGTERM and Ctrl-C stop it is in the README ("Crashes, Ctrl-C and SIGTERM").

In a `TF_CONFIG` cluster only the chief runs the pipeline like this; every other member trains beside it and
publishes nothing (`pipeline.worker`).

Example:

>>> from pipeline.config import load_config
>>> summary = run_pipeline(load_config(["quickstart"]), "runs", until="transform")  # doctest: +SKIP
>>> [s["status"] for s in summary["steps"]]  # doctest: +SKIP
['ran', 'ran', 'ran']
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline import quiet
from serving import atomic
from pipeline.config import Config
from pipeline.dag import STEPS, Step, fingerprints, steps_until
from serving.faults import crash_point
from pipeline.input_digest import digest_sources
from pipeline.lock import RootLock, is_chief
from pipeline.metadata import MetadataStore
from pipeline.root_check import local_root
from components.step import StepContext

logger = logging.getLogger(__name__)

OUTPUTS_FILE = "_outputs.json"
SUMMARY_FILE = "summary.json"
# Temporary names a crash can leave: a step's folder, a replaced artifact, an atomic file, a pusher export.
_ORPHAN = re.compile(r"^\.(.+\.incomplete|.+\.old-[0-9a-f]{8}|.+\.tmp|tmp-[0-9a-f]{32})$")


class RunInterrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM (the usual preemption signal), like Ctrl-C's KeyboardInterrupt."""


def artifact_dir(root: Path, step: str, fp: str) -> Path:
    return root / "artifacts" / step / fp


def _cached_outputs(final: Path) -> dict[str, Any] | None:
    """The outputs of a finished artifact, or None if it cannot be reused."""
    marker = final / OUTPUTS_FILE
    if not marker.exists():
        return None
    outputs = json.loads(marker.read_text())
    export_dir = outputs.get("export_dir")
    if export_dir and not Path(export_dir).exists():
        logger.warning("Published model %s is gone; the step runs again.", export_dir)
        return None
    return outputs


def _run_component(step: Step, ctx: StepContext) -> dict[str, Any]:
    quiet.import_tensorflow()  # every component uses it; its start-up noise filtered out
    return dict(importlib.import_module(step.component).run(ctx) or {})


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_orphans(root: Path, resumable: Sequence[str] = tuple(s.name for s in STEPS if s.resumable)) -> list[Path]:
    """Removes what crashed runs left half-written under `root`; returns the removed paths.

    Call it only while holding the root lock (no live run owns these names).
    A resumable step's `.incomplete` folder is kept: a rerun resumes from it.
    """
    candidates: list[Path] = []
    for folder in (root, root / "serving", *sorted((root / "artifacts").glob("*")),
                   *sorted((root / "serving").glob("*"))):
        if folder.is_dir():
            candidates.extend(p for p in sorted(folder.iterdir()) if _ORPHAN.match(p.name))
    removed = []
    for path in candidates:
        if path.name.endswith(".incomplete") and path.parent.name in resumable:
            logger.info("Keeping %s: the %s resumes from it", path, path.parent.name)
            continue
        _remove(path)
        logger.info("Removed %s, left by a run that did not finish", path)
        removed.append(path)
    return removed


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While running, SIGTERM raises RunInterrupted in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunInterrupted(f"stopped by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_pipeline(
    config: Config,
    root: str | Path = "seqlab_runs",
    until: str | None = None,
    use_cache: bool = True,
    beam_args: Sequence[str] = (),
    wait: float | None = 0.0,
    chief_timeout: float | None = 3600.0,
) -> dict[str, Any]:
    """Runs the pipeline and writes `<root>/summary.json`; a non-chief `TF_CONFIG` member only trains
    (`pipeline.worker.participate`) and writes nothing under `root`.

    Args:
        config: the validated config.
        root: the run root.
        until: last step to run (all when None).
        use_cache: reuse finished artifacts with the same fingerprint.
        beam_args: pipeline options passed through to Beam.
        wait: seconds to wait when another run holds the root (0: fail at once; None: forever).
        chief_timeout: a non-chief member's wait for the chief's transform, in seconds (None: forever).

    Returns:
        The summary (also written to `<root>/summary.json`).

    Raises:
        RootBusyError: another run holds the root.
        KeyboardInterrupt: Ctrl-C or SIGTERM (`RunInterrupted`); the run is
            recorded as interrupted and resumes on the next run.
    """
    root = local_root(root)  # a gs:// or other URI root: one-line ValueError
    if not is_chief():
        from pipeline.worker import participate

        with _sigterm_interrupts():
            return participate(config, root, until, use_cache, beam_args, chief_timeout)
    steps = steps_until(until)
    with _sigterm_interrupts(), RootLock(root, wait=wait):
        from pipeline.worker import join_cluster

        join_cluster(config, steps)  # multi_worker: before any step runs TensorFlow
        store = MetadataStore(root / "metadata.sqlite")
        try:
            return _run_locked(config, root, steps, use_cache, beam_args, store)
        finally:
            store.close()


def _run_locked(config: Config, root: Path, steps: tuple[Step, ...], use_cache: bool,
                beam_args: Sequence[str], store: MetadataStore) -> dict[str, Any]:
    for run_id in store.mark_interrupted():
        logger.info("Run %d did not finish (its process is gone): marked interrupted", run_id)
    clean_orphans(root)
    sources = {
        step.name: digest_sources(step.sources(config), store.known_digest, store.save_digest,
                                  config.data.tfds_data_dir)
        for step in steps if step.source_keys
    }
    fps = fingerprints(config, steps, sources)
    run_id = store.start_run(config.to_dict())
    logger.info("Run %d: config %s, root %s", run_id, config.name, root)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "status": "running",
        "config": config.to_dict(),
        "steps": [],
        "metrics": {},
        "blessed": None,
        "export_dir": None,
    }
    results: dict[str, dict[str, Any]] = {}
    artifact_ids: dict[str, int] = {}
    write_summary = lambda: _write_summary(summary, results, root)  # noqa: E731
    write_summary()  # from now on summary.json describes this run, never the previous one
    try:
        for step in steps:
            record = _run_step(step, config, root, fps, use_cache, beam_args, store, run_id,
                               artifact_ids)
            summary["steps"].append(record)
            results[step.name] = record["outputs"]
            if "_exception" in record:  # failed or interrupted
                raise record.pop("_exception")
            write_summary()
    except BaseException as exc:
        summary["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.finish_run(run_id, summary["status"])
        write_summary()
        raise
    summary["status"] = "succeeded"
    store.finish_run(run_id, "succeeded")
    write_summary()
    return summary


def _write_summary(summary: dict[str, Any], results: dict[str, Any], root: Path) -> None:
    summary["metrics"] = dict(results.get("evaluator", {}).get("metrics", {}))
    summary["blessed"] = results.get("evaluator", {}).get("blessed")
    summary["export_dir"] = results.get("pusher", {}).get("export_dir")
    pusher = results.get("pusher", {})
    if pusher.get("pushed") is False:
        summary["not_pushed"] = pusher.get("reason")
    clean = dict(summary)
    clean["steps"] = [{k: v for k, v in s.items() if not k.startswith("_")} for s in summary["steps"]]
    atomic.write_json(root / SUMMARY_FILE, clean)


def _run_step(
    step: Step,
    config: Config,
    root: Path,
    fps: dict[str, str],
    use_cache: bool,
    beam_args: Sequence[str],
    store: MetadataStore,
    run_id: int,
    artifact_ids: dict[str, int],
) -> dict[str, Any]:
    fp = fps[step.name]
    final = artifact_dir(root, step.name, fp)
    execution = store.start_execution(run_id, step.name, fp)
    for name in step.upstream:
        store.link(execution, artifact_ids[name], "input")
    started = time.perf_counter()
    record: dict[str, Any] = {"name": step.name, "fingerprint": fp, "artifact": str(final)}

    def finish(status: str, outputs: dict[str, Any]) -> dict[str, Any]:
        seconds = time.perf_counter() - started
        artifact_ids[step.name] = store.record_artifact(step.name, fp, str(final))
        store.link(execution, artifact_ids[step.name], "output")
        store.finish_execution(execution, status, seconds)
        logger.info("[%s] %s in %.1fs (%s)", step.name, status, seconds, fp)
        return {**record, "status": status, "seconds": round(seconds, 3), "outputs": outputs}

    cached = _cached_outputs(final) if use_cache else None
    if cached is not None:
        return finish("cached", cached)

    tmp = final.with_name(f".{fp}.incomplete")
    if tmp.exists() and (not step.resumable or not use_cache):
        if step.resumable:
            logger.info("[%s] --no-cache: not resuming from %s", step.name, tmp)
        shutil.rmtree(tmp)
    elif tmp.exists():
        logger.info("[%s] resuming from %s", step.name, tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    ctx = StepContext(
        config=config,
        inputs={name: artifact_dir(root, name, fps[name]) for name in step.upstream},
        output_dir=tmp,
        root=root,
        beam_args=tuple(beam_args),
    )
    logger.info("[%s] running (%s)", step.name, fp)
    try:
        crash_point(f"{step.name}:start")
        outputs = _run_component(step, ctx)
        atomic.write_json(tmp / OUTPUTS_FILE, outputs)
        crash_point(f"{step.name}:before_publish")
        atomic.publish_dir(tmp, final)
    except BaseException as exc:  # recorded, then re-raised by the caller
        seconds = time.perf_counter() - started
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.finish_execution(execution, status, seconds, message)
        if status == "interrupted":
            logger.warning("[%s] interrupted after %.1fs (%s)%s", step.name, seconds, exc or "Ctrl-C",
                           "; the next run resumes it" if step.resumable else "")
        else:
            logger.error("[%s] failed after %.1fs: %s", step.name, seconds, exc)
        return {**record, "status": status, "seconds": round(seconds, 3), "outputs": {},
                "error": str(exc) or type(exc).__name__, "_exception": exc}
    return finish("ran", outputs)
