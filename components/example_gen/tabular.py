"""TSV, CSV and JSON Lines readers (plain or .gz) with configurable fields.

Which fields are read depends on the task (see `task_fields`): `text_field` /
`label_field` for classification, `text_field` for language_model,
`source_field` / `target_field` for translation, and for tagging
`text_field` / `label_field` as tokens / tags (JSON lists, or strings split on
whitespace). TSV and CSV files whose fields are all integers ("0", "1") are
header-less and the fields are column indices; otherwise the first line is a
header naming the columns. CSV rows are parsed one line at a time, so quoted
fields may not span lines (locations stay `file:line`).

Example:

>>> from pipeline.config import DataConfig
>>> records, dead = read_table(["reviews.jsonl.gz"], DataConfig(), "classification")  # doctest: +SKIP
>>> records[0]  # doctest: +SKIP
{'text': 'A fine film.', 'label': 'pos'}
"""

from __future__ import annotations

import csv
import json
from typing import Any

from components import schema
from components.example_gen import common
from components.example_gen.common import DeadLetter, Record

_SEPARATORS = {"tsv": ("\t", "tab"), "csv": (",", "comma")}


def task_fields(data, task: str) -> tuple[str, ...]:
    """The configured field names, in `schema.RAW_FEATURES[task]` order."""
    return {
        "translation": (data.source_field, data.target_field),
        "classification": (data.text_field, data.label_field),
        "language_model": (data.text_field,),
        "tagging": (data.text_field, data.label_field),
    }[task]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return _as_text(value).split()


def make_record(values: list[Any], task: str) -> tuple[Record | None, str | None]:
    """(record, None) or (None, reason) from the raw field values of one row."""
    names = schema.RAW_FEATURES[task]
    if task == "tagging":
        tokens, tags = _as_list(values[0]), _as_list(values[1])
        if not tokens:
            return None, common.EMPTY_TEXT
        if len(tokens) != len(tags):
            return None, common.TAG_MISMATCH
        return {schema.RAW_TOKENS: tokens, schema.RAW_TAGS: tags}, None
    texts = [_as_text(v) for v in values]
    if task == "translation":  # the reasons the two-column TSV reader always gave
        for name, text in zip(names, texts):
            if not text.strip():
                return None, f"empty {name}"
    elif not texts[0].strip():
        return None, common.EMPTY_TEXT
    elif task == "classification" and not texts[1].strip():
        return None, common.MISSING_LABEL
    return dict(zip(names, texts)), None


def _split_row(text: str, fmt: str) -> list[str]:
    if fmt == "csv":
        return next(csv.reader([text]), [])
    return text.split("\t")


def read_delimited(path: str, fields: tuple[str, ...], task: str, fmt: str) -> tuple[list[Record], list[DeadLetter]]:
    """One TSV or CSV file; header-less when every field is an integer column index."""
    separator_name = _SEPARATORS[fmt][1]
    headerless = all(f.lstrip("-").isdigit() for f in fields)
    records: list[Record] = []
    dead: list[DeadLetter] = []
    indices: list[int] | None = [int(f) for f in fields] if headerless else None
    width: int | None = None
    for number, raw in common.numbered_lines(path):
        text = common.decode(raw)
        if text is None:
            dead.append(common.dead_letter(common.UNDECODABLE, path, number, raw))
            continue
        columns = _split_row(text, fmt)
        if indices is None:  # the header line
            missing = [f for f in fields if f not in columns]
            if missing:
                raise ValueError(
                    f"Fields {missing} are not columns of {path}. Header: {columns}. Set data.text_field / "
                    "data.label_field / data.source_field / data.target_field to header names, or to column "
                    "indices (\"0\", \"1\") for a file without a header."
                )
            indices, width = [columns.index(f) for f in fields], len(columns)
            continue
        if width is None:  # header-less: the first row sets the width
            width = max(len(columns), max(indices) + 1)
        if len(columns) != width:
            reason = f"expected {width} {separator_name}-separated columns, got {len(columns)}"
            dead.append(common.dead_letter(reason, path, number, raw))
            continue
        record, reason = make_record([columns[i] for i in indices], task)
        if reason:
            dead.append(common.dead_letter(reason, path, number, raw))
        else:
            records.append(record)
    return records, dead


def _json_value(row: Any, field: str) -> Any:
    if isinstance(row, list):
        index = int(field) if field.lstrip("-").isdigit() else None
        return row[index] if index is not None and -len(row) <= index < len(row) else None
    return row.get(field)


def read_jsonl(path: str, fields: tuple[str, ...], task: str) -> tuple[list[Record], list[DeadLetter]]:
    """One JSON Lines file: objects (fields are keys) or arrays (fields are indices); blank lines skipped."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for number, raw in common.numbered_lines(path):
        text = common.decode(raw)
        if text is None:
            dead.append(common.dead_letter(common.UNDECODABLE, path, number, raw))
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, (dict, list)):
            dead.append(common.dead_letter(common.INVALID_JSON, path, number, raw))
            continue
        record, reason = make_record([_json_value(row, f) for f in fields], task)
        if reason:
            dead.append(common.dead_letter(reason, path, number, raw))
        else:
            records.append(record)
    return records, dead


def read_table(paths: list[str], data, task: str, fmt: str = "auto") -> tuple[list[Record], list[DeadLetter]]:
    """TSV / CSV / JSONL files (format per file from the extension unless `fmt` is given)."""
    fields = task_fields(data, task)
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        file_fmt = fmt if fmt != "auto" else common.strip_gz(path).rsplit(".", 1)[-1]
        if file_fmt == "jsonl":
            got = read_jsonl(path, fields, task)
        elif file_fmt in _SEPARATORS:
            got = read_delimited(path, fields, task, file_fmt)
        else:
            raise ValueError(f"Not a .tsv, .csv or .jsonl file. Received: {path!r}, data.format={fmt!r}")
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead
