"""The published-model layout that TF Serving reads: integer version folders and a models.config.

    serving/<model_name>/<N>/          SavedModel, N = 1 + the largest existing version
    serving/models.config              model_config_list for every model under serving/
    serving/batching_parameters.txt    BatchingParameters for the model server's --batching_parameters_file

`publish` writes a SavedModel to `serving/<model_name>/.tmp-<uuid>` and renames it to its
integer version only when complete, so TF Serving (which only loads integer directories) never
sees half an export; a failed export is removed. A push that loses a version race (another
process took N between the listing and the rename) takes the next number.

Example:

>>> final, version = publish(lambda tmp: export_classifier(model, transform_dir, tmp), Path("runs/serving"),
...                          "reviews")  # doctest: +SKIP
>>> existing_versions(Path("runs/serving/dates"))  # doctest: +SKIP
[1]
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from serving import atomic
from serving.faults import crash_point

logger = logging.getLogger(__name__)

SERVING_DIR = "serving"
MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"


def existing_versions(model_dir: Path) -> list[int]:
    """Integer version directories of one model, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def models_config_text(serving_dir: Path, base_path: str = "") -> str:
    """TF Serving `model_config_list` text proto for every model with a version.

    `base_path` "" names each model's absolute local folder; otherwise `<base_path>/<name>` (e.g. "/models",
    where the tensorflow/serving container mounts serving/).
    """
    entries = []
    for model_dir in sorted(p for p in serving_dir.iterdir() if p.is_dir()):
        if existing_versions(model_dir):
            path = f"{base_path.rstrip('/')}/{model_dir.name}" if base_path else str(model_dir.resolve())
            entries.append(
                "  config {\n"
                f"    name: {json.dumps(model_dir.name)}\n"
                f"    base_path: {json.dumps(path)}\n"
                '    model_platform: "tensorflow"\n'
                "  }\n"
            )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def write_models_config(serving_dir: Path, base_path: str = "") -> Path:
    """(Re)writes `serving/models.config` atomically."""
    path = serving_dir / MODELS_CONFIG
    atomic.write_text(path, models_config_text(serving_dir, base_path))
    return path


def write_batching_parameters(serving_dir: Path) -> Path:
    """Writes `serving/batching_parameters.txt` for `--enable_batching --batching_parameters_file` (TF Serving's
    BatchingParameters text proto; variable-length string batches padded)."""
    from serving.server.config import BatchingParameters, batching_parameters_text

    params = BatchingParameters(max_batch_size=32, batch_timeout_micros=2000, max_enqueued_batches=100,
                                num_batch_threads=4, allowed_batch_sizes=(8, 16, 32), pad_variable_length_inputs=True)
    path = serving_dir / BATCHING_PARAMETERS
    atomic.write_text(path, batching_parameters_text(params))
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
