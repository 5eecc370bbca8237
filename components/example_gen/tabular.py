"""TSV, CSV and JSON Lines readers (plain or .gz) with configurable fields.

Which fields are read depends on the task (`Task.source_fields`): `text_field` /
`label_field` for classification, `text_field` for language_model,
`source_field` / `target_field` for translation, and for tagging
`text_field` / `label_field` as tokens / tags (JSON lists, or strings split on
whitespace). TSV and CSV files whose fields are all integers ("0", "1") are
header-less and the fields are column indices; otherwise the first line is a
header naming the columns. Every row must have the configured width (header-less:
the largest column index + 1, indices >= 0; with a header: the header's width);
other rows are dead letters, and so are CSV rows with a malformed quote. Blank
lines are skipped (a TSV line of tabs is a row of empty fields). CSV rows are
parsed one line at a time, so quoted fields may not span lines (locations stay
`file:line`). JSON values must be strings or numbers (tagging: also lists of
strings); lists, objects, booleans and null are dead letters naming the field
and its JSON type.

Example:

>>> from components.config import DataConfig
>>> records, dead = read_table(["reviews.jsonl.gz"], DataConfig(), "classification")  # doctest: +SKIP
>>> records[0]  # doctest: +SKIP
{'text': 'A fine film.', 'label': 'pos'}
"""

from __future__ import annotations

import csv
import json
import re
from typing import Any

from components.example_gen import common
from components.registry import get_task
from components.example_gen.common import DeadLetter, Record

_SEPARATORS = {"tsv": ("\t", "tab"), "csv": (",", "comma")}


def _index(field: str) -> int | None:
    """The column index a field names ("0", "-1"), or None for a name."""
    return int(field) if re.fullmatch(r"-?[0-9]+", field) else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def check_json_value(value: Any, field: str, task: str) -> str | None:
    """None when a JSON value can feed `field`, else the dead-letter reason naming the field and its JSON type.

    Strings and numbers are accepted (numbers become text with str); lists of strings where the task reads
    lists (`Task.list_values`, a tagger's words and tags).
    """
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None
    if get_task(task).list_values:
        if isinstance(value, list):
            bad = [v for v in value if not isinstance(v, str)]
            if not bad:
                return None
            item = "a null" if bad[0] is None else _json_type(bad[0])
            return f"field {field!r} is a list with {item} item, expected a list of strings"
        return f"field {field!r} is {_json_type(value)}, expected a string or a list of strings"
    return f"field {field!r} is {_json_type(value)}, expected a string"


def as_text(value: Any) -> str:
    """A field value as text (None: "", numbers: str)."""
    return "" if value is None else str(value)


def as_list(value: Any) -> list[str]:
    """A field value as a list of strings (a string: its whitespace-separated words)."""
    if isinstance(value, list):
        return [as_text(v) for v in value]
    return as_text(value).split()


def _split_row(text: str, fmt: str) -> list[str]:
    """The columns of one line; ValueError (one line) when a CSV line cannot be parsed."""
    if fmt == "csv":
        try:
            return next(csv.reader([text], strict=True), [])  # strict: an unclosed quote is an error
        except csv.Error as e:  # e.g. a bare "\r" inside an unquoted field
            raise ValueError(f"invalid CSV row: {str(e).split(' - ')[0]}") from None
    return text.split("\t")


def read_delimited(path: str, fields: tuple[str, ...], task: str, fmt: str) -> tuple[list[Record], list[DeadLetter]]:
    """One TSV or CSV file; header-less when every field is an integer column index."""
    separator_name = _SEPARATORS[fmt][1]
    headerless = all(_index(f) is not None for f in fields)
    records: list[Record] = []
    dead: list[DeadLetter] = []
    indices: list[int] | None = [int(f) for f in fields] if headerless else None
    if indices and min(indices) < 0:
        raise ValueError(f"A {fmt.upper()} file without a header needs column indices >= 0 (its width is the "
                         f"largest index + 1). Received: fields {list(fields)} for {path}")
    width: int | None = max(indices) + 1 if indices else None  # header-less; else the header's width
    for number, raw in common.numbered_lines(path):
        text = common.decode(raw)
        if text is None:
            dead.append(common.dead_letter(common.UNDECODABLE, path, number, raw))
            continue
        if not text.strip() and (fmt != "tsv" or "\t" not in text):  # blank lines are skipped, like JSON Lines
            continue  # (a line of tabs is a row of empty fields)
        try:
            columns = _split_row(text, fmt)
        except ValueError as e:
            if indices is None:
                raise ValueError(f"The header of {path} is not a CSV row: {e}. Received: {text!r}") from None
            dead.append(common.dead_letter(str(e), path, number, raw))
            continue
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
        if len(columns) != width:
            reason = f"expected {width} {separator_name}-separated columns, got {len(columns)}"
            dead.append(common.dead_letter(reason, path, number, raw))
            continue
        record, reason = get_task(task).make_record([columns[i] for i in indices])
        if reason:
            dead.append(common.dead_letter(reason, path, number, raw))
        else:
            records.append(record)
    return records, dead


def _json_value(row: Any, field: str) -> Any:
    if isinstance(row, list):
        index = _index(field)
        return row[index] if index is not None and -len(row) <= index < len(row) else _MISSING
    return row.get(field, _MISSING)


_MISSING = object()  # a key (or index) the row does not have: the reasons for empty values apply


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
        except (ValueError, RecursionError):  # JSONDecodeError, over 4300 digits, nested too deep
            row = None
        if not isinstance(row, (dict, list)):
            dead.append(common.dead_letter(common.INVALID_JSON, path, number, raw))
            continue
        values = [_json_value(row, f) for f in fields]
        reason = next((r for f, v in zip(fields, values)
                       if v is not _MISSING and (r := check_json_value(v, f, task))), None)
        if reason:
            dead.append(common.dead_letter(reason, path, number, raw))
            continue
        record, reason = get_task(task).make_record([None if v is _MISSING else v for v in values])
        if reason:
            dead.append(common.dead_letter(reason, path, number, raw))
        else:
            records.append(record)
    return records, dead


def read_table_file(path: str, data, task: str, fmt: str = "auto") -> tuple[list[Record], list[DeadLetter]]:
    """One TSV / CSV / JSONL file (format from the extension unless `fmt` is given)."""
    fields = get_task(task).source_fields(data)
    file_fmt = fmt if fmt != "auto" else common.strip_gz(path).rsplit(".", 1)[-1]
    if file_fmt == "jsonl":
        return read_jsonl(path, fields, task)
    if file_fmt in _SEPARATORS:
        return read_delimited(path, fields, task, file_fmt)
    raise ValueError(f"Not a .tsv, .csv or .jsonl file. Received: {path!r}, data.format={fmt!r}")


def read_table(paths: list[str], data, task: str, fmt: str = "auto") -> tuple[list[Record], list[DeadLetter]]:
    """TSV / CSV / JSONL files (format per file from the extension unless `fmt` is given)."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        got = read_table_file(path, data, task, fmt)
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead
