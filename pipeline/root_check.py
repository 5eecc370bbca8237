"""Consistency checks of a run root, and the contents of artifacts compared across runs.

`problems(root)` lists what would make a later step or TF Serving pick up
something half-written or stale: a finished-looking artifact folder without
its `_outputs.json`, a run or execution still `running` when no run holds the
root, a pushed version missing SavedModel files, a `models.config` that does
not list exactly the models with versions. `artifact_contents(path)` reads an
example_gen or transform artifact as sorted records and file digests, so two
runs can be compared although Beam assigns records to shards in any order.
The fault-injection test and benchmark use both; so can a user after a crash.
`local_root(root)` refuses a root that is a URI (`gs://`, `s3://`, ...) before anything is written.

Example:

>>> import tempfile
>>> problems(tempfile.mkdtemp())
[]
>>> local_root("gs://bucket/runs")
Traceback (most recent call last):
ValueError: --root 'gs://bucket/runs' is a gs:// URI; a run root must be a local path or a shared POSIX filesystem mounted at the same path on every machine (NFS, Filestore, EFS): artifacts are written with local file calls and metadata.sqlite needs a file SQLite can lock
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sqlite3
import struct
from pathlib import Path
from typing import Any, Iterator

from components.source_uri import uri_scheme

OUTPUTS_FILE = "_outputs.json"  # the runner writes it last, just before the rename
SAVED_MODEL_FILES = ("saved_model.pb", "variables/variables.index")
_NAME_LINE = re.compile(r'^\s*name:\s*"(.*)"\s*$', re.MULTILINE)


def local_root(root: str | Path) -> Path:
    """The run root as an absolute local path; a ValueError naming --root when it is a URI.

    `Path("gs://b/runs").resolve()` is `./gs:/b/runs`: without this check a remote root would silently become a
    local folder on each machine.
    """
    scheme = uri_scheme(root)
    if scheme:
        raise ValueError(
            f"--root {str(root)!r} is a {scheme}:// URI; a run root must be a local path or a shared POSIX "
            "filesystem mounted at the same path on every machine (NFS, Filestore, EFS): artifacts are written "
            "with local file calls and metadata.sqlite needs a file SQLite can lock")
    return Path(root).resolve()


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of one TFRecord file (gzip when the name ends in .gz), framing read in Python."""
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        start = offset + 12  # length, then its masked CRC
        yield data[start:start + length]
        offset = start + length + 4  # the record, then its masked CRC


def artifact_contents(artifact: Path) -> dict[str, Any]:
    """{relative file: digest} for plain files and {split folder: sorted record digests} for TFRecords.

    `_outputs.json` and `manifest.json` name their own paths and fingerprints, so they are left out.
    """
    out: dict[str, Any] = {}
    for path in sorted(p for p in artifact.rglob("*") if p.is_file()):
        relative = str(path.relative_to(artifact))
        if path.name in (OUTPUTS_FILE, "manifest.json"):
            continue
        if ".tfrecord" in path.name:
            records = out.setdefault(f"{path.parent.relative_to(artifact)}/*.tfrecord", [])
            records.extend(hashlib.sha256(r).hexdigest() for r in tfrecords(path))
        elif "dead_letter" in relative:
            key = f"{path.parent.relative_to(artifact)}/*.jsonl"
            out.setdefault(key, []).extend(sorted(path.read_text().splitlines()))
        else:
            out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {k: sorted(v) if isinstance(v, list) else v for k, v in out.items()}


def _finished_artifacts(root: Path) -> Iterator[Path]:
    for step_dir in sorted((root / "artifacts").glob("*")):
        yield from (p for p in sorted(step_dir.iterdir()) if p.is_dir() and not p.name.startswith("."))


def _metadata_problems(root: Path, killed: bool) -> list[str]:
    path = root / "metadata.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        found = []
        if not killed:
            found += [f"run {r[0]} is still 'running'" for r in db.execute(
                "SELECT id FROM runs WHERE status = 'running'")]
            found += [f"execution {r[0]} ({r[1]}) of run {r[2]} is still 'running'" for r in db.execute(
                "SELECT id, step, run_id FROM executions WHERE status = 'running'")]
        for step, fp, uri in db.execute(
                "SELECT e.step, e.fingerprint, a.uri FROM executions e JOIN events ev ON ev.execution_id = e.id "
                "JOIN artifacts a ON a.id = ev.artifact_id WHERE ev.direction = 'output' "
                "AND e.status IN ('ran', 'cached') AND e.id = (SELECT MAX(id) FROM executions "
                "WHERE step = e.step AND fingerprint = e.fingerprint)"):
            if not (Path(uri) / OUTPUTS_FILE).exists():
                found.append(f"{step} artifact {fp} is recorded as finished but {uri} is not")
    finally:
        db.close()
    return found


def _serving_problems(root: Path) -> list[str]:
    serving = root / "serving"
    if not serving.is_dir():
        return []
    found = []
    with_versions = set()
    for model_dir in sorted(p for p in serving.iterdir() if p.is_dir()):
        for version in sorted(p for p in model_dir.iterdir() if p.name.isdigit()):
            with_versions.add(model_dir.name)
            missing = [f for f in SAVED_MODEL_FILES if not (version / f).exists()]
            if missing:
                found.append(f"serving version {version} lacks {missing}")
    config = serving / "models.config"
    listed = set(_NAME_LINE.findall(config.read_text())) if config.exists() else set()
    if with_versions and listed != with_versions:
        found.append(f"models.config lists {sorted(listed)}, serving/ has versions of {sorted(with_versions)}")
    return found


def problems(root: str | Path, killed: bool = False) -> list[str]:
    """What is inconsistent in `root` (call it when no run holds the root); [] when nothing is.

    Args:
        root: the run root.
        killed: the last run was just killed, so its run and executions may still say `running`
            (the next run marks them interrupted); everything else must hold.
    """
    root = Path(root)
    found = [f"{p} looks finished but has no {OUTPUTS_FILE}" for p in _finished_artifacts(root)
             if not (p / OUTPUTS_FILE).exists()]
    found += _metadata_problems(root, killed)
    found += _serving_problems(root)
    summary = root / "summary.json"
    if summary.exists() and not killed:
        status = json.loads(summary.read_text()).get("status")
        if status == "running":
            found.append("summary.json says the last run is still running")
    return found
