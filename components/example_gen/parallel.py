"""Parallel-text readers: two aligned files, or one two-column TSV.

Bad rows never vanish: each becomes a dead letter `{"reason", "location", "raw"}`
with `location` = `file:line` (1-based). A line-count mismatch between aligned
files is an error, never a silent truncation.

Example:

>>> records, dead = read_tsv(["pairs.tsv"])  # doctest: +SKIP
>>> records[0]
('3 March 1998', '1998-03-03')
"""

from __future__ import annotations

import glob
import gzip
import logging
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)

Record = tuple[str, str]
DeadLetter = dict[str, Any]


def _open(path: str):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def read_lines(path: str) -> list[bytes]:
    """The raw lines of a plain or .gz file, without their line endings."""
    if not Path(path).exists():
        raise ValueError(f"Data file not found. Received: path={path!r}")
    with _open(path) as f:
        return [line.rstrip(b"\r\n") for line in f]


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letter(reason: str, path: str, line_number: int, raw: bytes) -> DeadLetter:
    """A JSON-serializable dead-letter entry; undecodable raw bytes are shown with escapes."""
    return {
        "reason": reason,
        "location": f"{path}:{line_number}",
        "raw": raw.decode("utf-8", errors="backslashreplace"),
    }


def _check_pair(source: str, target: str) -> str | None:
    if not source.strip():
        return "empty source"
    if not target.strip():
        return "empty target"
    return None


def read_aligned(source_path: str, target_path: str) -> tuple[list[Record], list[DeadLetter]]:
    """Reads line i of `source_path` with line i of `target_path`.

    Raises:
        ValueError: when the two files have different line counts.
    """
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            "Aligned files must have the same number of lines. Received: "
            f"{source_path} has {len(sources)} lines, {target_path} has {len(targets)} lines. "
            "Fix the files; rows are never dropped to make them match."
        )
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for number, (raw_source, raw_target) in enumerate(zip(sources, targets), start=1):
        source, target = _decode(raw_source), _decode(raw_target)
        if source is None:
            dead.append(dead_letter("undecodable bytes (not UTF-8)", source_path, number, raw_source))
            continue
        if target is None:
            dead.append(dead_letter("undecodable bytes (not UTF-8)", target_path, number, raw_target))
            continue
        reason = _check_pair(source, target)
        if reason:
            bad_path, bad_raw = (source_path, raw_source) if "source" in reason else (target_path, raw_target)
            dead.append(dead_letter(reason, bad_path, number, bad_raw))
            continue
        records.append((source, target))
    return records, dead


def _tsv_rows(path: str) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(read_lines(path), start=1)


def read_tsv(paths: list[str]) -> tuple[list[Record], list[DeadLetter]]:
    """Reads `source<TAB>target` rows from each file in `paths`."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        for number, raw in _tsv_rows(path):
            text = _decode(raw)
            if text is None:
                dead.append(dead_letter("undecodable bytes (not UTF-8)", path, number, raw))
                continue
            columns = text.split("\t")
            if len(columns) != 2:
                dead.append(dead_letter(f"expected 2 tab-separated columns, got {len(columns)}", path, number, raw))
                continue
            reason = _check_pair(*columns)
            if reason:
                dead.append(dead_letter(reason, path, number, raw))
                continue
            records.append((columns[0], columns[1]))
    return records, dead


def is_tsv(path: str) -> bool:
    return path.endswith(".tsv") or path.endswith(".tsv.gz")


def expand(pattern: str) -> list[str]:
    """Sorted paths matching `pattern` (a path or glob); an error when none match."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ValueError(f"No data files match. Received: data.source={pattern!r}")
    return paths


def read_parallel(source: str, target_source: str = "", fmt: str = "auto") -> tuple[list[Record], list[DeadLetter]]:
    """Reads a parallel corpus from files per `data.source`, `data.target_source`, `data.format`.

    `fmt` is "auto" (TSV by extension, aligned when `target_source` is set),
    "tsv", or "parallel"/"text" (aligned files).

    Example:

    >>> records, dead = read_parallel("en.txt", "de.txt")  # doctest: +SKIP
    """
    if fmt == "tsv" or (fmt == "auto" and is_tsv(source) and not target_source):
        records, dead = read_tsv(expand(source))
    elif fmt in ("auto", "parallel", "text") and target_source:
        records, dead = read_aligned(source, target_source)
    else:
        raise ValueError(
            "Cannot tell how to read the data. Give a two-column .tsv as data.source, or two aligned "
            "files as data.source and data.target_source (data.format: auto | tsv | parallel). "
            f"Received: data.source={source!r}, data.target_source={target_source!r}, data.format={fmt!r}"
        )
    logger.info("Read %d records and %d dead letters from %s", len(records), len(dead), source)
    return records, dead
