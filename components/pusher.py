"""The pusher step: export a blessed model and publish it for TF Serving.

Layout under the run root:

    serving/<model_name>/<N>/          SavedModel, N = 1 + the largest existing version
    serving/models.config              model_config_list for every model under serving/

The SavedModel is written to `serving/<model_name>/.tmp-<uuid>` and renamed to
its integer version only when complete, so TF Serving (which only loads
integer directories) never sees half an export; a failed export is removed.
A push that loses a version race (another process took N between the listing
and the rename) takes the next number.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from pipeline import atomic
from pipeline.faults import crash_point
from pipeline.step import StepContext

logger = logging.getLogger(__name__)

SERVING_DIR = "serving"
MODELS_CONFIG = "models.config"
PUSHED_FILE = "pushed.json"


def existing_versions(model_dir: Path) -> list[int]:
    """Integer version directories of one model, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def models_config_text(serving_dir: Path) -> str:
    """TF Serving `model_config_list` text proto for every model with a version."""
    entries = []
    for model_dir in sorted(p for p in serving_dir.iterdir() if p.is_dir()):
        if existing_versions(model_dir):
            entries.append(
                "  config {\n"
                f"    name: {json.dumps(model_dir.name)}\n"
                f"    base_path: {json.dumps(str(model_dir.resolve()))}\n"
                '    model_platform: "tensorflow"\n'
                "  }\n"
            )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def write_models_config(serving_dir: Path) -> Path:
    """(Re)writes `serving/models.config` atomically."""
    path = serving_dir / MODELS_CONFIG
    atomic.write_text(path, models_config_text(serving_dir))
    return path


def publish(export_fn, serving_dir: Path, model_name: str) -> tuple[Path, int]:
    """Runs `export_fn(tmp_dir)` and renames the result to the next version.

    Returns:
        (the version directory, its version number).
    """
    model_dir = serving_dir / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        export_fn(tmp)
        crash_point("pusher:before_version_rename")
        while True:
            versions = existing_versions(model_dir)
            version = (versions[-1] + 1) if versions else 1
            final = model_dir / str(version)
            try:
                os.rename(tmp, final)  # fails rather than overwrite a version a racing push took
                break
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                logger.info("Version %d of %s was taken while exporting; trying the next", version, model_name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, version


def not_blessed_reason(blessing: dict[str, Any]) -> str:
    """Why a model was not pushed, in one line.

    Example:

    >>> not_blessed_reason({"metric": "exact_match", "value": 0.41, "threshold": 0.95})
    'exact_match 0.4100 < eval.bless_threshold 0.95'
    """
    from components.evaluator.metrics import LOWER_IS_BETTER

    metric, value, threshold = blessing.get("metric"), blessing.get("value"), blessing.get("threshold")
    if not isinstance(value, (int, float)):
        return f"{metric} is {value!r}, not a number (eval.bless_threshold {threshold})"
    relation = ">" if metric in LOWER_IS_BETTER else "<"
    return f"{metric} {value:.4f} {relation} eval.bless_threshold {threshold}"


def run(ctx: StepContext) -> dict[str, Any]:
    """Exports and publishes the trained model if the evaluator blessed it."""
    cfg = ctx.config
    out = Path(ctx.output_dir)
    blessing_path = Path(ctx.inputs["evaluator"]) / "blessing.json"
    blessing = json.loads(blessing_path.read_text())
    if not blessing.get("blessed"):
        reason = not_blessed_reason(blessing)
        logger.warning("Not pushing: %s", reason)
        outputs = {"pushed": False, "reason": reason}
        (out / PUSHED_FILE).write_text(json.dumps(outputs, indent=2))
        return outputs

    model_name = cfg.push.model_name
    if not model_name or model_name.startswith(".") or "/" in model_name:
        raise ValueError(f"push.model_name must be a plain directory name. Received: {model_name!r}")
    from components.evaluator.evaluate import load_trained_model
    from serving.export import export_model

    model = load_trained_model(ctx.inputs["trainer"])
    serving_dir = Path(ctx.root) / SERVING_DIR
    export_dir, version = publish(
        lambda tmp: export_model(cfg, model, ctx.inputs["transform"], tmp, model_name=model_name),
        serving_dir,
        model_name,
    )
    write_models_config(serving_dir)
    outputs = {"pushed": True, "export_dir": str(export_dir.resolve()), "version": version}
    (out / PUSHED_FILE).write_text(json.dumps(outputs, indent=2))
    logger.info("Pushed %s version %d to %s", model_name, version, export_dir)
    return outputs
