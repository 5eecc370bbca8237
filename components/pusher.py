"""The pusher step: export a blessed model and publish it for TF Serving.

The published layout under the run root (`serving/layout.py`, which a server reads too):

    serving/<model_name>/<N>/          SavedModel, N = 1 + the largest existing version
    serving/models.config              model_config_list for every model under serving/ (base paths under
                                       push.serving_base_path when set, e.g. /models for the container)
    serving/batching_parameters.txt    BatchingParameters for --enable_batching
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from components.registry import get_task
from components.step import StepContext
from serving.layout import SERVING_DIR, publish, write_batching_parameters, write_models_config

logger = logging.getLogger(__name__)

PUSHED_FILE = "pushed.json"


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
    blessing = json.loads((Path(ctx.inputs["evaluator"]) / "blessing.json").read_text())
    if not blessing.get("blessed"):
        reason = not_blessed_reason(blessing)
        logger.warning("Not pushing: %s", reason)
        outputs = {"pushed": False, "reason": reason}
        (out / PUSHED_FILE).write_text(json.dumps(outputs, indent=2))
        return outputs

    model_name = cfg.push.model_name
    if not model_name or model_name.startswith(".") or "/" in model_name:
        raise ValueError(f"push.model_name must be a plain directory name. Received: {model_name!r}")
    from serving.export import load_trained_model

    model = load_trained_model(ctx.inputs["trainer"])
    task = get_task(cfg.task)
    serving_dir = Path(ctx.root) / SERVING_DIR
    export_dir, version = publish(
        lambda tmp: task.export(cfg, model, Path(ctx.inputs["transform"]), tmp, model_name=model_name),
        serving_dir,
        model_name,
    )
    write_models_config(serving_dir, cfg.push.serving_base_path)
    write_batching_parameters(serving_dir)
    outputs = {"pushed": True, "export_dir": str(export_dir.resolve()), "version": version}
    (out / PUSHED_FILE).write_text(json.dumps(outputs, indent=2))
    logger.info("Pushed %s version %d to %s", model_name, version, export_dir)
    return outputs
