"""Source URIs in plain Python: `builtin:` names and parameters, `tfds:` names and prepared folders, and
which paths are remote URIs (`gs://`, `s3://`, ...).

No TensorFlow, Beam or TFDS import, so `seqlab config` checks a `builtin:` URI and the runner finds a
prepared TFDS dataset (for its fingerprint, or to say it is missing) before anything heavy loads.

Example:

>>> split_builtin("builtin:temporal_order?n=20&length=50")
('temporal_order', {'n': '20', 'length': '50'})
>>> builtin_params("builtin:temporal_order?length=50")
{'length': 50}
>>> parse_tfds("tfds:wmt14_translate/de-en")
('wmt14_translate', 'de-en')
>>> uri_scheme("gs://bucket/vectors.txt"), uri_scheme("/data/vectors.txt")
('gs', None)
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

# builtin name -> the task it feeds, and its query parameters beyond n and seed with their types
BUILTIN_TASKS: dict[str, str] = {
    "dates": "translation", "temporal_order": "classification", "date_tags": "tagging",
    "date_validity": "classification", "dialogue": "language_model",
}
BUILTIN_PARAMS: dict[str, dict[str, type]] = {"temporal_order": {"length": int}}
COMMON_PARAMS = ("n", "seed")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_URI = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)  # gs://, s3://, hdfs://, file://, ...


def uri_scheme(path: str | os.PathLike) -> str | None:
    """The scheme of a URI path (`gs://b/x` -> "gs"), or None for a local path (`builtin:` and `tfds:` included)."""
    match = _URI.match(str(path))
    return match.group(1) if match else None


def split_builtin(uri: str, key: str = "data.source") -> tuple[str, dict[str, str]]:
    """`builtin:name?k=v` -> (name, {k: v}), with the name and the parameter names checked.

    `key` is the config key the URI came from, named in the errors.
    """
    parsed = urllib.parse.urlsplit(uri)
    name = parsed.path
    if name not in BUILTIN_TASKS:
        raise ValueError(f"Unknown builtin source '{name}'. Available: {sorted(BUILTIN_TASKS)}. "
                         f"Received: {key}={uri!r}")
    params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    valid = [*COMMON_PARAMS, *BUILTIN_PARAMS.get(name, {})]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown builtin source parameters {unknown} for builtin:{name}. Valid: {valid}. Received: {uri!r}")
    return name, params


def parse_builtin(uri: str, default_n: int, default_seed: int, key: str = "data.source",
                  task: str | None = None) -> tuple[str, int, int]:
    """`builtin:dates?n=500&seed=7` -> ("dates", 500, 7); absent params take the defaults.

    With `task`, an error unless the builtin feeds that task.
    """
    name, params = split_builtin(uri, key)
    try:
        n = int(params.get("n", default_n))
        seed = int(params.get("seed", default_seed))
    except ValueError:
        raise ValueError(f"Builtin source parameters n and seed must be integers. Received: {uri!r}") from None
    if n <= 0:
        raise ValueError(f"Builtin source parameter n must be positive. Received: n={n} in {uri!r}")
    builtin_params(uri, key)
    feeds = BUILTIN_TASKS[name]
    if task is not None and feeds != task:
        same = sorted(b for b, t in BUILTIN_TASKS.items() if t == task)
        raise ValueError(f"{key}=builtin:{name} feeds task={feeds!r}. Received: task={task!r}. Set "
                         f"task={feeds!r}, or use a builtin that feeds {task!r}: {same}")
    return name, n, seed


def builtin_params(uri: str, key: str = "data.source") -> dict[str, Any]:
    """The parameters beyond n and seed that `uri` sets, converted to their types."""
    name, params = split_builtin(uri, key)
    out = {}
    for param, kind in BUILTIN_PARAMS.get(name, {}).items():
        if param in params:
            try:
                out[param] = kind(params[param])
            except ValueError:
                raise ValueError(f"Builtin source parameter {param} of builtin:{name} must be {kind.__name__}. "
                                 f"Received: {param}={params[param]!r} in {uri!r}") from None
    return out


def parse_tfds(uri: str, key: str = "data.source") -> tuple[str, str | None]:
    """`tfds:conll2003` -> ("conll2003", None); `tfds:wmt14_translate/de-en` -> (name, "de-en")."""
    name, _, config = uri[len("tfds:"):].partition("/")
    if not name:
        raise ValueError(f"Expected tfds:<name>[/<config>]. Received: {key}={uri!r}")
    return name, config or None


def tfds_default_data_dir() -> str:
    """Where TFDS looks when no data_dir is given: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def tfds_prepared_dirs(uri: str, data_dir: str = "") -> list[Path]:
    """The prepared version folders (`<data_dir>/<name>[/<config>]/<x.y.z>/` with a dataset_info.json).

    Without a config in the URI, every config's versions count (the builder's default is one of them).
    """
    name, config = parse_tfds(uri)
    base = Path(data_dir or tfds_default_data_dir()) / name
    parents = [base / config] if config else [base, *(sorted(p for p in base.iterdir() if p.is_dir())
                                                    if base.is_dir() else [])]
    return [v for parent in parents if parent.is_dir() for v in sorted(parent.iterdir())
            if _VERSION.match(v.name) and (v / "dataset_info.json").is_file()]


def tfds_not_prepared(uri: str, data_dir: str = "") -> str:
    """The one-line error for a `tfds:` source with no prepared version under the data dir."""
    name, _ = parse_tfds(uri)
    where = data_dir or tfds_default_data_dir()
    return (f"TFDS dataset {uri[len('tfds:'):]!r} is not prepared under data.tfds_data_dir={where!r} and this run "
            f"never downloads. Prepare it there (tfds build {name}), set data.tfds_data_dir to a prepared copy, "
            "or read local files: --set data.source=PATH")
