"""Runs the step graph locally, step by step, with caching and metadata.

Each step writes into `<root>/artifacts/<step>/.<fingerprint>.incomplete/`
and the runner renames that to `<root>/artifacts/<step>/<fingerprint>/` only
when the component returns. A finished artifact is therefore complete by
construction, and a crashed step leaves only a dot-folder that no later run
takes for finished (the trainer's is kept so that it resumes from its
checkpoints).

Example:

>>> from pipeline.config import load_config
>>> summary = run_pipeline(load_config(["quickstart"]), "runs", until="transform")  # doctest: +SKIP
>>> [s["status"] for s in summary["steps"]]  # doctest: +SKIP
['ran', 'ran', 'ran']
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from pipeline import atomic
from pipeline.config import Config
from pipeline.dag import Step, check_tasks, fingerprints, steps_until
from pipeline.metadata import MetadataStore
from pipeline.step import StepContext

logger = logging.getLogger(__name__)

OUTPUTS_FILE = "_outputs.json"
SUMMARY_FILE = "summary.json"


def artifact_dir(root: Path, step: str, fp: str) -> Path:
    return root / "artifacts" / step / fp


def _incomplete_dir(root: Path, step: str, fp: str) -> Path:
    return root / "artifacts" / step / f".{fp}.incomplete"


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
    module = importlib.import_module(step.component)
    outputs = module.run(ctx)
    return dict(outputs or {})


def _collect_metrics(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(results.get("evaluator", {}).get("metrics", {}))


def run_pipeline(
    config: Config,
    root: str | Path = "seqlab_runs",
    until: str | None = None,
    use_cache: bool = True,
    beam_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Runs the pipeline and writes `<root>/summary.json`.

    Args:
        config: the validated config.
        root: the run root.
        until: last step to run (all when None).
        use_cache: reuse finished artifacts with the same fingerprint.
        beam_args: pipeline options passed through to Beam.

    Returns:
        The summary (also written to `<root>/summary.json`).
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    steps = steps_until(until)
    check_tasks(steps, config.task)
    fps = fingerprints(config, steps)
    store = MetadataStore(root / "metadata.sqlite")
    run_id = store.start_run(config.to_dict())
    logger.info("Run %d: config %s, root %s", run_id, config.name, root)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "config": config.to_dict(),
        "steps": [],
        "metrics": {},
        "blessed": None,
        "export_dir": None,
    }
    results: dict[str, dict[str, Any]] = {}
    artifact_ids: dict[str, int] = {}
    try:
        for step in steps:
            record = _run_step(step, config, root, fps, use_cache, beam_args, store, run_id,
                               artifact_ids)
            summary["steps"].append(record)
            results[step.name] = record["outputs"]
            if record["status"] == "failed":
                raise record.pop("_exception")
    except BaseException:
        store.finish_run(run_id, "failed")
        store.close()
        _finish_summary(summary, results, root)
        raise
    store.finish_run(run_id, "succeeded")
    store.close()
    _finish_summary(summary, results, root)
    return summary


def _finish_summary(summary: dict[str, Any], results: dict[str, Any], root: Path) -> None:
    summary["metrics"] = _collect_metrics(results)
    summary["blessed"] = results.get("evaluator", {}).get("blessed")
    summary["export_dir"] = results.get("pusher", {}).get("export_dir")
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

    tmp = _incomplete_dir(root, step.name, fp)
    if tmp.exists() and not step.resumable:
        shutil.rmtree(tmp)
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
        outputs = _run_component(step, ctx)
        atomic.write_json(tmp / OUTPUTS_FILE, outputs)
        atomic.publish_dir(tmp, final)
    except BaseException as exc:  # recorded, then re-raised by the caller
        seconds = time.perf_counter() - started
        store.finish_execution(execution, "failed", seconds, "".join(
            traceback.format_exception_only(type(exc), exc)).strip())
        logger.error("[%s] failed after %.1fs: %s", step.name, seconds, exc)
        return {**record, "status": "failed", "seconds": round(seconds, 3), "outputs": {},
                "error": str(exc), "_exception": exc}
    return finish("ran", outputs)
