"""Property tests for the example_gen file readers (hypothesis): arbitrary bytes never crash them.

For the TSV, CSV and JSONL readers (`tabular.read_table`) and the text, CoNLL and CoNLL-U readers:
arbitrary bytes, or arbitrary rows, written to a file give records and dead letters, never an
exception other than a one-line ValueError for a whole-file problem (a header without the
configured fields, a CoNLL file whose first row has no tag column). Every dead letter has a
non-empty reason and a `file:line` location; for TSV/CSV/JSONL, accepted + dead-lettered ==
the non-blank lines (after the header, if any).

Each property runs 60 examples by default (the file runs in a few seconds). For a longer fuzz run:

    HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest tests/components/test_reader_properties.py

(the `fuzz` profile runs 3000 examples per property).
"""

import json
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.example_gen import common, conll, conllu, tabular, text
from pipeline.config import DataConfig

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TASKS = ("classification", "language_model", "translation", "tagging")
# pieces that matter to the readers, plus any other text (a line never holds "\n")
PIECE = st.one_of(st.sampled_from(["\t", ",", '"', " ", "\r", "{", "}", "[", "]", ":", "\x85", "\u2028", "\ufeff",
                                   "text", "label", "0", "1", "-DOCSTART-", "#", "\\", "1-2", "3.1"]),
                  st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=4))
LINE = st.lists(PIECE, max_size=10).map("".join)
LINES = st.lists(LINE, max_size=12)
ROW_BYTES = st.one_of(st.binary(max_size=200), LINES.map(lambda lines: "\n".join(lines).encode("utf-8")))


def json_rows():
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), LINE)
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                         max_leaves=6)
    row = st.one_of(st.dictionaries(st.sampled_from(["text", "label", "0", "1", "x"]), value, max_size=3),
                    st.lists(value, max_size=3), value)
    line = st.one_of(row.map(json.dumps), LINE)
    return st.lists(line, max_size=10).map(lambda lines: "\n".join(lines).encode("utf-8"))


def file_lines(content: bytes) -> list[bytes]:
    """The lines the readers see: split on \\n, line endings and one leading BOM removed."""
    if not content:
        return []
    content = common.strip_bom(content)
    lines = content.split(b"\n")
    if content.endswith(b"\n"):
        lines.pop()
    return [line.rstrip(b"\r\n") for line in lines]


def non_blank(line: bytes, fmt: str = "jsonl") -> bool:
    """A row the reader must account for: not blank (in a TSV file a line of tabs is a row)."""
    decoded = common.decode(line)
    return decoded is None or bool(decoded.strip()) or (fmt == "tsv" and "\t" in decoded)


def check_dead_letters(dead, path):
    for d in dead:
        assert d["reason"], d
        assert re.fullmatch(re.escape(str(path)) + r":[1-9][0-9]*", d["location"]), d
        json.dumps(d)  # JSON-serializable, as the dead-letter writer needs


def read(reader, content: bytes, name: str):
    """(records, dead, path) from `reader(path)` on `content`; only a one-line ValueError may escape."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            records, dead = reader(str(path))
        except ValueError as e:
            assert len(str(e).splitlines()) == 1, str(e)
            return None, None, path
        check_dead_letters(dead, path)
        return records, dead, path


@given(content=ROW_BYTES, fmt=st.sampled_from(["tsv", "csv"]), task=st.sampled_from(TASKS),
       headerless=st.booleans())
def test_delimited_never_crash_and_count_rows(content, fmt, task, headerless):
    if headerless:
        data = DataConfig(text_field="1", label_field="0", source_field="0", target_field="1")
    else:  # a header naming the columns
        data = DataConfig(source_field="text", target_field="label")
    records, dead, _ = read(lambda p: tabular.read_table([p], data, task), content, f"data.{fmt}")
    if records is None:
        assert not headerless  # only a header can be a whole-file problem
        return
    lines = [line for line in file_lines(content) if non_blank(line, fmt)]
    expected = len(lines)
    if not headerless:  # the first decodable non-blank line is the header
        expected -= any(common.decode(line) is not None for line in lines)
    assert len(records) + len(dead) == expected
    assert all(set(r) for r in records)


@given(content=st.one_of(json_rows(), st.binary(max_size=200)), task=st.sampled_from(TASKS),
       indexed=st.booleans())
def test_jsonl_never_crash_and_count_rows(content, task, indexed):
    data = DataConfig(text_field="0", label_field="1") if indexed else DataConfig(source_field="text",
                                                                                   target_field="label")
    records, dead, _ = read(lambda p: tabular.read_table([p], data, task), content, "data.jsonl")
    assert records is not None  # JSON Lines has no whole-file problems
    assert len(records) + len(dead) == sum(non_blank(line) for line in file_lines(content))
    for record in records:  # values are text, or lists of text for tagging
        for value in record.values():
            assert isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


@given(content=ROW_BYTES, unit=st.sampled_from(["file", "line", "paragraph"]))
def test_text_never_crash(content, unit):
    records, dead, _ = read(lambda p: text.read_text([p], DataConfig(text_unit=unit)), content, "book.txt")
    assert records is not None
    assert all(isinstance(r["text"], str) and r["text"].strip() for r in records)


@given(content=ROW_BYTES, tag_column=st.sampled_from([-1, 1, 3]), iob2=st.booleans())
def test_conll_never_crash(content, tag_column, iob2):
    data = DataConfig(tag_column=tag_column, iob2=iob2)
    records, dead, _ = read(lambda p: conll.read_conll([p], data), content, "eng.train")
    for record in records or []:
        assert len(record["tokens"]) == len(record["tags"]) > 0


@given(content=ROW_BYTES, tag=st.sampled_from(["upos", "xpos", "upos+xpos"]))
def test_conllu_never_crash(content, tag):
    records, dead, _ = read(lambda p: conllu.read_conllu([p], DataConfig(conllu_tag=tag)), content, "ud.conllu")
    assert records is not None
    for record in records:
        assert len(record["tokens"]) == len(record["tags"]) > 0
