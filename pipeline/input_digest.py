"""What a step reads from outside the run root, and the code that shapes its output, as fingerprint parts.

A step is cached only when its inputs really did not change (Make and Bazel's rule): what counts (files
by size and SHA-256, cached by (path, size, mtime_ns); `tfds:` builders and prepared versions; remote URIs by
name, with a warning; `code_versions()`) and what it misses is in the README ("When a step is cached").

Example:

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.tsv").write_text("x\\ty\\n")
4
>>> [f["path"] for f in digest_uri(str(d / "*.tsv"))["files"]] == [str(d / "a.tsv")]
True
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import logging
import os
from typing import Any, Callable, Optional

from components import source_uri

logger = logging.getLogger(__name__)

# The libraries whose version changes what a step writes.
LIBRARIES = ("tensorflow", "tensorflow-text", "keras", "apache-beam", "tensorflow-datasets", "sacrebleu")
_CHUNK = 1 << 20

# (path, size, mtime_ns) -> sha256 hex, or None when not known yet; a store implements both.
DigestLookup = Callable[[str, int, int], Optional[str]]
DigestSave = Callable[[str, int, int, str], None]


def code_versions() -> dict[str, str]:
    """seqlab's version and the installed versions of `LIBRARIES` ("none" when absent), without importing them."""
    out = {}
    for name in ("seqlab", *LIBRARIES):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "none"
    return out


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entry(path: str, lookup: DigestLookup | None, save: DigestSave | None) -> dict[str, Any]:
    stat = os.stat(path)
    known = lookup(path, stat.st_size, stat.st_mtime_ns) if lookup else None
    if known is None:
        known = file_sha256(path)
        if save:
            save(path, stat.st_size, stat.st_mtime_ns, known)
    return {"path": path, "size": stat.st_size, "sha256": known}


def _tfds_entry(uri: str, data_dir: str) -> dict[str, Any]:
    versions = []
    prepared = source_uri.tfds_prepared_dirs(uri, data_dir)
    if not prepared:  # fail before any step runs, in one line (TFDS itself would advise download=True)
        raise ValueError(source_uri.tfds_not_prepared(uri, data_dir))
    for version_dir in prepared:
        files = sorted(p for p in version_dir.iterdir() if p.is_file())
        versions.append({
            "dir": str(version_dir),
            "dataset_info": file_sha256(str(version_dir / "dataset_info.json")),
            "files": [[p.name, p.stat().st_size] for p in files],
        })
    return {"tfds": uri, "data_dir": data_dir or source_uri.tfds_default_data_dir(), "versions": versions}


def digest_uri(uri: str, lookup: DigestLookup | None = None, save: DigestSave | None = None,
               tfds_data_dir: str = "") -> dict[str, Any] | None:
    """The fingerprint part of one source URI (see the module docstring); None for `builtin:` and ""."""
    if not uri or uri.startswith("builtin:"):
        return None
    if uri.startswith("tfds:"):
        return _tfds_entry(uri, tfds_data_dir)
    if source_uri.uri_scheme(uri):
        logger.warning("%s is remote: its URI is part of the cache key, its content is not (use --no-cache "
                       "after it changes)", uri)
        return {"uri": uri, "untracked": "remote"}
    paths = sorted(glob.glob(uri)) or ([uri] if os.path.exists(uri) else [])
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.append({"path": path, "directory": True})  # the reader says why that is an error
        else:
            files.append(_file_entry(path, lookup, save))
    return {"uri": uri, "files": files}


def digest_sources(uris: dict[str, str], lookup: DigestLookup | None = None, save: DigestSave | None = None,
                   tfds_data_dir: str = "") -> dict[str, Any]:
    """{config key: fingerprint part} for the given `{config key: URI}`; builtin and empty URIs are left out
    (the config, already in the key, says everything about them)."""
    parts = {key: digest_uri(uri, lookup, save, tfds_data_dir) for key, uri in sorted(uris.items())}
    return {key: part for key, part in parts.items() if part is not None}

