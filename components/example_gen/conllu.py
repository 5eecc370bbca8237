"""CoNLL-U treebanks (plain or .gz) for tagging: FORM with UPOS, XPOS or both (joint tags) per word.

Comment lines (`#`) are skipped, multiword-token ranges (`1-2`) and empty
nodes (`3.1`) are skipped, a blank line ends a sentence. A sentence with a
row that does not have 10 TAB-separated columns is dead-lettered whole.

Example:

>>> from components.config import DataConfig
>>> records, dead = read_conllu(["en_ewt-ud-train.conllu.gz"], DataConfig())  # doctest: +SKIP
>>> records[0]["tags"][:3]  # doctest: +SKIP
['PROPN', 'PUNCT', 'PROPN']
"""

from __future__ import annotations

from components.config import CONLLU_TAGS, ConfigError
from serving import schema
from components.example_gen import common
from components.example_gen.common import DeadLetter, Record
from components.example_gen.conll import sentences

NUM_COLUMNS = 10
FORM, UPOS, XPOS = 1, 3, 4
TAG_COLUMNS: dict[str, int] = {"upos": UPOS, "xpos": XPOS}
# `data.conllu_tag` names one column or several joined by "+"; a joint tag joins their values with this.
JOINT_TAG_SEPARATOR = "|"


def tag_columns(conllu_tag: str) -> list[str]:
    """The CoNLL-U columns a `data.conllu_tag` value names, in order: "upos+xpos" -> ["upos", "xpos"]."""
    if conllu_tag not in CONLLU_TAGS:  # `seqlab config` refuses it first; this is for configs built in code
        raise ConfigError(
            f"data.conllu_tag must be one of {list(CONLLU_TAGS)}. Received: data.conllu_tag={conllu_tag!r}")
    return conllu_tag.split("+")


def _sentence(path: str, block, tag_indices: list[int]) -> tuple[Record | None, DeadLetter | None]:
    tokens: list[str] = []
    tags: list[str] = []
    raw_block = b"\n".join(raw for _, raw in block)
    for number, raw in block:
        text = common.decode(raw)
        if text is None:
            return None, common.dead_letter(common.UNDECODABLE, path, number, raw_block)
        if text.startswith("#"):
            continue
        columns = text.split("\t")
        if len(columns) != NUM_COLUMNS:
            reason = common.TAG_MISMATCH if len(columns) <= max(tag_indices) else common.WRONG_COLUMNS
            return None, common.dead_letter(reason, path, number, raw_block)
        if not columns[0].isdigit():  # "1-2" multiword range, "3.1" empty node
            continue
        tokens.append(columns[FORM])
        tags.append(JOINT_TAG_SEPARATOR.join(columns[i] for i in tag_indices))
    if not tokens:
        return None, None
    return {schema.RAW_TOKENS: tokens, schema.RAW_TAGS: tags}, None


def read_conllu_file(path: str, data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"tokens": [...], "tags": [...]}` of one file, tags from `data.conllu_tag` (upos | xpos |
    upos+xpos: joint tags such as "NOUN|NN")."""
    tag_indices = [TAG_COLUMNS[name] for name in tag_columns(data.conllu_tag)]
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for _, block in sentences(path):
        record, bad = _sentence(path, block, tag_indices)
        if bad:
            dead.append(bad)
        elif record:
            records.append(record)
    return records, dead


def read_conllu(paths: list[str], data) -> tuple[list[Record], list[DeadLetter]]:
    """Records `{"tokens": [...], "tags": [...]}`, tags from `data.conllu_tag` (see `read_conllu_file`)."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    for path in paths:
        got = read_conllu_file(path, data)
        records.extend(got[0])
        dead.extend(got[1])
    return records, dead
