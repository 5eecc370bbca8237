"""Parallel-text readers: two aligned files, or one two-column TSV.

Bad rows never vanish: each becomes a dead letter `{"reason", "location", "raw"}`
with `location` = `file:line` (1-based). A line-count mismatch between aligned
files is an error, never a silent truncation.

Example:

>>> records, dead = read_tsv(["pairs.tsv"], "translation")  # doctest: +SKIP
>>> records[0]  # doctest: +SKIP
{'source': '3 March 1998', 'target': '1998-03-03'}
"""

from __future__ import annotations

import logging

from components.example_gen import common, tabular
from components.registry import get_task
from components.example_gen.common import DeadLetter, Record, dead_letter, expand, read_lines  # noqa: F401

logger = logging.getLogger(__name__)


def read_aligned(source_path: str, target_path: str, task: str) -> tuple[list[Record], list[DeadLetter]]:
    """Reads line i of `source_path` with line i of `target_path` (records of the source -> target `task`).

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
        source, target = common.decode(raw_source), common.decode(raw_target)
        if source is None or target is None:
            bad_path, bad_raw = (source_path, raw_source) if source is None else (target_path, raw_target)
            dead.append(dead_letter(common.UNDECODABLE, bad_path, number, bad_raw))
            continue
        record, reason = get_task(task).make_record([source, target])
        if reason:
            bad_path, bad_raw = (source_path, raw_source) if "source" in reason else (target_path, raw_target)
            dead.append(dead_letter(reason, bad_path, number, bad_raw))
            continue
        records.append(record)
    return records, dead


def read_tsv(paths: list[str], task: str, source_field: str = "0",
             target_field: str = "1") -> tuple[list[Record], list[DeadLetter]]:
    """Reads `source<TAB>target` rows (or the named/indexed columns) from each file in `paths`."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        got = tabular.read_delimited(path, (source_field, target_field), task, "tsv")
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead


def read_parallel(source: str, target_source: str = "", fmt: str = "auto", *,
                  task: str) -> tuple[list[Record], list[DeadLetter]]:
    """Reads a parallel corpus from files per `data.source`, `data.target_source`, `data.format`, as records of
    the source -> target `task` (its `make_record` checks each pair).

    `fmt` is "auto" (TSV by extension, aligned when `target_source` is set),
    "tsv", or "parallel"/"text" (aligned files).

    Example:

    >>> records, dead = read_parallel("en.txt", "de.txt", task="translation")  # doctest: +SKIP
    """
    if fmt == "tsv" or (fmt == "auto" and common.strip_gz(source).endswith(".tsv") and not target_source):
        records, dead = read_tsv(expand(source), task)
    elif fmt in ("auto", "parallel", "text") and target_source:
        records, dead = read_aligned(source, target_source, task)
    else:
        raise ValueError(
            "Cannot tell how to read the data. Give a two-column .tsv as data.source, or two aligned "
            "files as data.source and data.target_source (data.format: auto | tsv | parallel). "
            f"Received: data.source={source!r}, data.target_source={target_source!r}, data.format={fmt!r}"
        )
    logger.info("Read %d records and %d dead letters from %s", len(records), len(dead), source)
    return records, dead

