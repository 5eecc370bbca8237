"""Shared pieces of the file readers: opening (gzip transparently), decoding, dead letters, globs.

A reader is a function `(paths, DataConfig) -> (records, dead_letters)`. A
record is a dict `{raw feature name: str | list[str]}` keyed by
the task's raw features (`Task.raw_features`); a dead letter is `{"reason", "location", "raw"}`
with `location` = `file:line` (1-based).

Example:

>>> dead_letter("empty text", "a.txt", 3, b"  ")
{'reason': 'empty text', 'location': 'a.txt:3', 'raw': '  '}
"""

from __future__ import annotations

import glob
import gzip
from pathlib import Path
from typing import Any, Iterator

Record = dict[str, Any]  # {feature: str | list[str]}
DeadLetter = dict[str, Any]

UNDECODABLE = "undecodable bytes (not UTF-8)"
EMPTY_TEXT = "empty text"
MISSING_LABEL = "missing label"
WRONG_COLUMNS = "wrong column count"
TAG_MISMATCH = "tag count different from token count"
INVALID_JSON = "invalid JSON"


BOM = b"\xef\xbb\xbf"  # the UTF-8 byte-order mark some editors write at the start of a file


def directory_error(path: str, pattern: str | None = None) -> ValueError:
    """The one-line error for a directory given (or the only match of a glob) where a file is expected."""
    path = str(path).rstrip("/\\") or str(path)
    what = "data.source names a directory" if pattern is None else f"data.source={pattern!r} matches only directories"
    return ValueError(f"{what}, not a file: {path!r}. Give a file or a glob such as '{path}/*.tsv'.")


def open_binary(path: str):
    """A binary file object; `.gz` files are decompressed transparently."""
    if Path(path).is_dir():
        raise directory_error(path)
    if not Path(path).exists():
        raise ValueError(f"Data file not found. Received: path={path!r}")
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def strip_bom(raw: bytes) -> bytes:
    """`raw` without one leading UTF-8 byte-order mark."""
    return raw[len(BOM):] if raw.startswith(BOM) else raw


def read_lines(path: str) -> list[bytes]:
    """The raw lines of a plain or .gz file, without their line endings (and without a leading BOM)."""
    return [line for _, line in numbered_lines(path)]


def numbered_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line without line ending), streamed; a leading BOM is stripped once."""
    with open_binary(path) as f:
        for number, line in enumerate(f, start=1):
            if number == 1:
                line = strip_bom(line)
            yield number, line.rstrip(b"\r\n")


def decode(raw: bytes) -> str | None:
    """UTF-8 text, or None when `raw` is not valid UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letter(reason: str, path: str, line_number: int, raw: bytes | str) -> DeadLetter:
    """A JSON-serializable dead-letter entry; undecodable raw bytes are shown with escapes."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")
    return {"reason": reason, "location": f"{path}:{line_number}", "raw": raw}


def expand(pattern: str) -> list[str]:
    """Sorted paths matching `pattern` (a path or glob); an error when none match."""
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise ValueError(f"No data files match. Received: data.source={pattern!r}")
    paths = [p for p in matches if not Path(p).is_dir()]
    if not paths:
        raise directory_error(matches[0], None if matches == [pattern] else pattern)
    return paths


def strip_gz(path: str) -> str:
    """`a.tsv.gz` -> `a.tsv`: the name whose extension says the format."""
    return path[:-3] if path.endswith(".gz") else path
