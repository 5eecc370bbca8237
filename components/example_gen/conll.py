"""CoNLL-2003 column files (plain or .gz) for tagging: `WORD POS CHUNK NER` per line.

The token is column 0 and the tag is column `data.tag_column` (default -1,
the last). `-DOCSTART-` lines are skipped, a blank line ends a sentence.
A sentence with a row whose column count differs from the file's first row
(e.g. a row without its tag) is dead-lettered whole, at that row's line.
With `data.iob2`, IOB1 tags (`I-` may open an entity) become IOB2.

Example:

>>> iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"])
['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC', 'B-ORG']
"""

from __future__ import annotations

from typing import Iterator

from serving import schema
from components.example_gen import common
from components.example_gen.common import DeadLetter, Record

DOCSTART = "-DOCSTART-"


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """IOB1 -> IOB2: an `I-X` that does not continue an `X` entity becomes `B-X`."""
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-"):
            kind = tag[2:]
            if previous == "O" or previous[2:] != kind:
                tag = "B-" + kind
        out.append(tag)
        previous = tag
    return out


def sentences(path: str) -> Iterator[tuple[int, list[tuple[int, bytes]]]]:
    """(first line number, [(line number, raw line)]) per blank-line-separated block."""
    block: list[tuple[int, bytes]] = []
    for number, raw in common.numbered_lines(path):
        if raw.strip():
            block.append((number, raw))
        elif block:
            yield block[0][0], block
            block = []
    if block:
        yield block[0][0], block


def _sentence(path: str, block: list[tuple[int, bytes]], tag_column: int,
              width: int | None) -> tuple[Record | None, DeadLetter | None, int | None]:
    """(record or None, dead letter or None, file width) for one block."""
    tokens: list[str] = []
    tags: list[str] = []
    raw_block = b"\n".join(raw for _, raw in block)
    for number, raw in block:
        text = common.decode(raw)
        if text is None:
            return None, common.dead_letter(common.UNDECODABLE, path, number, raw_block), width
        columns = text.split()
        if not columns or columns[0] == DOCSTART:  # a line of Unicode whitespace ("\x85") holds no token
            continue
        if width is None:
            width = len(columns)
            if not -width <= tag_column < width or width < 2:
                raise ValueError(
                    f"data.tag_column={tag_column} is not a column of {path}, whose rows have {width} "
                    "columns (token first, tag after it)."
                )
        if len(columns) != width:
            reason = common.TAG_MISMATCH if len(columns) < width else common.WRONG_COLUMNS
            return None, common.dead_letter(reason, path, number, raw_block), width
        tokens.append(columns[0])
        tags.append(columns[tag_column])
    if not tokens:
        return None, None, width
    return {schema.RAW_TOKENS: tokens, schema.RAW_TAGS: tags}, None, width


def read_conll_file(path: str, data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"tokens": [...], "tags": [...]}` of one file, one per sentence."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    width = None
    for _, block in sentences(path):
        record, bad, width = _sentence(path, block, data.tag_column, width)
        if bad:
            dead.append(bad)
        elif record:
            if data.iob2:
                record[schema.RAW_TAGS] = iob1_to_iob2(record[schema.RAW_TAGS])
            records.append(record)
    return records, dead


def read_conll(paths: list[str], data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"tokens": [...], "tags": [...]}`, one per sentence."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        got = read_conll_file(path, data)
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead
