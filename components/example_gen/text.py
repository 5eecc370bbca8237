"""Plain-text reader (`.txt`, optionally `.gz`) for language_model.

`data.text_unit` picks the example: `file` (the whole file, exactly as
written, one stream), `line` (each non-blank line; blank lines separate, they
are not bad rows), or `paragraph` (blank-line-separated blocks, their lines
joined with "\\n").

Example:

>>> from components.config import DataConfig
>>> records, dead = read_text(["book.txt"], DataConfig(text_unit="paragraph"))  # doctest: +SKIP
>>> records[0]  # doctest: +SKIP
{'text': 'First Citizen:\\nBefore we proceed any further, hear me speak.'}
"""

from __future__ import annotations

from serving import schema
from components.example_gen import common
from components.example_gen.common import DeadLetter, Record


def _read_file(path: str) -> tuple[list[Record], list[DeadLetter]]:
    with common.open_binary(path) as f:
        raw = common.strip_bom(f.read())
    text = common.decode(raw)
    if text is None:
        return [], [common.dead_letter(common.UNDECODABLE, path, 1, raw[:200])]
    if not text.strip():
        return [], [common.dead_letter(common.EMPTY_TEXT, path, 1, raw[:200])]
    return [{schema.RAW_TEXT: text}], []


def _read_units(path: str, unit: str) -> tuple[list[Record], list[DeadLetter]]:
    records: list[Record] = []
    dead: list[DeadLetter] = []
    block: list[str] = []
    block_bad = False

    def flush() -> None:
        if block and not block_bad:
            records.append({schema.RAW_TEXT: "\n".join(block)})
        block.clear()

    for number, raw in common.numbered_lines(path):
        text = common.decode(raw)
        if text is None:
            dead.append(common.dead_letter(common.UNDECODABLE, path, number, raw))
            block_bad = True  # a paragraph with an undecodable line is dropped whole
            continue
        if not text.strip():
            flush()
            block_bad = False
            continue
        if unit == "line":
            records.append({schema.RAW_TEXT: text})
            continue
        block.append(text)
    flush()
    return records, dead


def read_text_file(path: str, data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"text": ...}` from one plain-text file per `data.text_unit`."""
    return _read_file(path) if data.text_unit == "file" else _read_units(path, data.text_unit)


def read_text(paths: list[str], data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"text": ...}` from plain-text files per `data.text_unit`."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        got = read_text_file(path, data)
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead
