"""example_gen readers: text, TSV/CSV/JSONL, CoNLL-2003, CoNLL-U, TFDS; config keys they read."""

import gzip
import json

import pytest

from components.example_gen import common, conll, sources
from pipeline.config import DataConfig, load_config


def load(task, **kw):
    return sources.load_source(DataConfig(**kw), task)


def reasons(dead):
    return {d["location"].rsplit(":", 1)[1]: d["reason"] for d in dead}


def test_config_new_keys_default_and_override():
    cfg = load_config(None)
    assert (cfg.data.text_field, cfg.data.source_field, cfg.data.tag_column, cfg.data.text_unit) == ("text", "0", -1, "line")
    cfg = load_config(None, ["task=tagging", "transform.tokenizer=word", "data.source=train.conllu", "data.format=conllu", "data.conllu_tag=xpos", "data.iob2=true",
                             "data.tag_column=3", "data.tfds_split=train[:10]"])
    assert cfg.task == "tagging" and cfg.data.iob2 is True and cfg.data.tag_column == 3
    assert cfg.data.conllu_tag == "xpos" and cfg.data.tfds_split == "train[:10]"
    assert load_config(None, ["data.conllu_tag=upos+xpos"]).data.conllu_tag == "upos+xpos"


@pytest.mark.parametrize("override, key", [
    ("task=parsing", "task"), ("data.format=xml", "data.format"),
    ("data.conllu_tag=lemma", "data.conllu_tag"), ("data.text_unit=sentence", "data.text_unit")])
def test_config_rejects_bad_choices(override, key):
    with pytest.raises(ValueError, match=f"Config key '{key}' must be one of"):
        load_config(None, [override])


def test_config_does_not_import_tensorflow():
    import subprocess
    import sys
    code = "import sys, pipeline.config; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("unit, expected", [
    ("file", ["one\ntwo\n\nthree\n"]), ("line", ["one", "two", "three"]), ("paragraph", ["one\ntwo", "three"])])
def test_plain_text_units(tmp_path, unit, expected):
    path = tmp_path / "book.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("one\ntwo\n\nthree\n")
    records, dead = load("language_model", source=str(path), text_unit=unit)
    assert [r["text"] for r in records] == expected and dead == []


def test_plain_text_undecodable_line(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes(b"fine\nbad \xff\n")
    records, dead = load("language_model", source=str(path))
    assert records == [{"text": "fine"}] and reasons(dead) == {"2": common.UNDECODABLE}


def test_jsonl_classification_with_dead_letters(tmp_path):
    path = tmp_path / "reviews.jsonl.gz"
    rows = [json.dumps({"text": "good film", "label": "pos"}), "{not json", json.dumps({"text": " ", "label": "neg"}),
            json.dumps({"text": "no label"}), json.dumps({"review": "x", "stars": 1}), json.dumps({"text": "meh", "label": 0})]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")
    records, dead = load("classification", source=str(path))
    assert records == [{"text": "good film", "label": "pos"}, {"text": "meh", "label": "0"}]
    assert reasons(dead) == {"2": common.INVALID_JSON, "3": common.EMPTY_TEXT, "4": common.MISSING_LABEL,
                             "5": common.EMPTY_TEXT}
    records, _ = load("classification", source=str(path), text_field="review", label_field="stars")
    assert records == [{"text": "x", "label": "1"}]


def test_csv_with_header_and_headerless_tsv(tmp_path):
    csv_path = tmp_path / "data.csv"
    csv_path.write_text('label,text\npos,"great, really"\nneg\n')
    records, dead = load("classification", source=str(csv_path))
    assert records == [{"text": "great, really", "label": "pos"}]
    assert reasons(dead) == {"3": "expected 2 comma-separated columns, got 1"}
    tsv_path = tmp_path / "data.tsv"
    tsv_path.write_text("pos\tfine\nneg\tbad\n")
    records, _ = load("classification", source=str(tsv_path), text_field="1", label_field="0")
    assert records[1] == {"text": "bad", "label": "neg"}
    with pytest.raises(ValueError, match="not columns of"):
        load("classification", source=str(csv_path), text_field="body")


def test_tsv_translation_with_named_columns(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("id\ten\tde\n1\tone\teins\n")
    records, _ = load("translation", source=str(path), source_field="en", target_field="de")
    assert records == [{"source": "one", "target": "eins"}]


CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

broken NN I-NP
row NN I-NP O
"""


def test_conll2003_sentences_tags_and_missing_tag(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text(CONLL)
    records, dead = load("tagging", source=str(path), format="conll")
    assert records == [{"tokens": ["EU", "rejects", "German"], "tags": ["I-ORG", "O", "I-MISC"]},
                       {"tokens": ["Peter", "Blackburn"], "tags": ["I-PER", "I-PER"]}]
    assert reasons(dead) == {"10": common.TAG_MISMATCH}
    assert dead[0]["raw"] == "broken NN I-NP\nrow NN I-NP O"
    records, _ = load("tagging", source=str(path), format="conll", iob2=True, tag_column=1)
    assert records[0]["tags"] == ["NNP", "VBZ", "JJ"]  # iob2 leaves non-IOB tags alone
    records, _ = load("tagging", source=str(path), format="conll", iob2=True)
    assert records[1]["tags"] == ["B-PER", "I-PER"]


def test_iob1_to_iob2():
    assert conll.iob1_to_iob2(["I-PER", "I-PER", "B-PER", "I-PER", "O", "I-LOC", "I-ORG"]) == \
        ["B-PER", "I-PER", "B-PER", "I-PER", "O", "B-LOC", "B-ORG"]


CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
1\tShort\tshort\tADJ
"""


def test_conllu_upos_xpos_skips_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "ud.conllu.gz"
    with gzip.open(path, "wt") as f:
        f.write(CONLLU)
    records, dead = load("tagging", source=str(path))
    assert records == [{"tokens": ["Do", "n't", "go", "."], "tags": ["AUX", "PART", "VERB", "PUNCT"]}]
    assert reasons(dead) == {"11": common.WRONG_COLUMNS}
    records, _ = load("tagging", source=str(path), conllu_tag="xpos")
    assert records[0]["tags"] == ["VBP", "RB", "VB", "."]
    records, _ = load("tagging", source=str(path), conllu_tag="upos+xpos")  # joint tags, one label a word
    assert records[0]["tags"] == ["AUX|VBP", "PART|RB", "VERB|VB", "PUNCT|."]


def test_joint_tag_parts_only_when_every_source_reads_conllu():
    from components.config import ConfigError, DataConfig
    from components.example_gen.conllu import tag_columns
    from components.tasks.tagging import _joint_tag_parts

    joint = dict(conllu_tag="upos+xpos")
    assert _joint_tag_parts(DataConfig(source="train.conllu.gz", eval_source="dev.conllu", **joint)) == ["upos", "xpos"]
    assert _joint_tag_parts(DataConfig(source="gs://b/train.txt", format="conllu", **joint)) == ["upos", "xpos"]
    assert _joint_tag_parts(DataConfig(source="train.conllu")) == []  # one column: no parts
    for data in (DataConfig(source="builtin:date_tags", **joint), DataConfig(source="tfds:conll2003", **joint),
                 DataConfig(source="train.tsv", **joint),
                 DataConfig(source="train.conllu", eval_source="dev.conll", **joint),
                 DataConfig(source="train.conllu", eval_source="tfds:conll2003", **joint)):
        assert _joint_tag_parts(data) == [], data
    with pytest.raises(ConfigError, match=r"data.conllu_tag='upos\+lemma'"):
        tag_columns("upos+lemma")


def test_format_errors_name_the_fix(tmp_path):
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(ValueError, match="Set data.format"):
        load("classification", source=str(tmp_path / "x.parquet"))
    (tmp_path / "x.conllu").write_text("")
    with pytest.raises(ValueError, match="cannot feed task='classification'"):
        load("classification", source=str(tmp_path / "x.conllu"))


def test_tfds_sources_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    for name in ("imdb_reviews", "tiny_shakespeare", "conll2003"):  # what a prepared data dir holds
        (tmp_path / name / "1.0.0").mkdir(parents=True)
        (tmp_path / name / "1.0.0" / "dataset_info.json").write_text("{}")
    data_dir = str(tmp_path)
    with tfds.testing.mock_data(num_examples=6):  # the records come from the mock
        records, dead = load("classification", source="tfds:imdb_reviews", tfds_data_dir=data_dir)
        assert len(records) + len(dead) == 6
        assert {r["label"] for r in records} <= {"neg", "pos"}
        records, dead = load("language_model", source="tfds:tiny_shakespeare", tfds_split="test",
                             tfds_data_dir=data_dir)
        assert len(records) + len(dead) == 6 and isinstance(records[0]["text"], str)
        records, dead = load("tagging", source="tfds:conll2003", tfds_data_dir=data_dir)
        assert len(records) + len(dead) == 6  # mock tags are random lengths: mismatches are dead letters
        assert all(len(r["tokens"]) == len(r["tags"]) for r in records)
        assert {d["reason"] for d in dead} <= {common.TAG_MISMATCH, common.EMPTY_TEXT}
        assert all(t.startswith(("B-", "I-", "O")) for r in records for t in r["tags"])
        with pytest.raises(ValueError, match="has no features"):
            load("translation", source="tfds:imdb_reviews", tfds_data_dir=data_dir)
    with pytest.raises(ValueError, match="not prepared under data.tfds_data_dir=.*--set data.source=PATH"):
        load("classification", source="tfds:imdb_reviews", tfds_data_dir=str(tmp_path / "empty"))


def test_headerless_width_comes_from_config_not_first_row(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\textra\none\teins\ntwo\tzwei\n")
    records, dead = load("translation", source=str(path))
    assert records == [{"source": "one", "target": "eins"}, {"source": "two", "target": "zwei"}]
    assert reasons(dead) == {"1": "expected 2 tab-separated columns, got 3"}
    path.write_text("id\ten\tde\n1\tone\teins\n2\ttwo\n")  # with a header: the header's width
    records, dead = load("translation", source=str(path), source_field="en", target_field="de")
    assert records == [{"source": "one", "target": "eins"}]
    assert reasons(dead) == {"3": "expected 3 tab-separated columns, got 2"}


def test_jsonl_non_string_values_are_dead_letters(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"text": "ok", "label": ["a", "list"]}, {"text": {"a": 1}, "label": "pos"}, {"text": True, "label": "x"},
            {"text": "ok", "label": None}, {"text": 3.5, "label": 1}, {"text": "no label"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records, dead = load("classification", source=str(path))
    assert records == [{"text": "3.5", "label": "1"}]
    assert reasons(dead) == {"1": "field 'label' is a list, expected a string",
                             "2": "field 'text' is an object, expected a string",
                             "3": "field 'text' is a boolean, expected a string",
                             "4": "field 'label' is null, expected a string", "6": common.MISSING_LABEL}
    rows = [{"text": ["EU", "rejects"], "label": ["B-ORG", "O"]}, {"text": ["EU", 1], "label": ["O", "O"]},
            {"text": "EU rejects", "label": "B-ORG O"}, {"text": ["EU"], "label": {"t": "O"}}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records, dead = load("tagging", source=str(path), format="jsonl")
    assert records == [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}] * 2
    assert reasons(dead) == {"2": "field 'text' is a list with a number item, expected a list of strings",
                             "4": "field 'label' is an object, expected a string or a list of strings"}


def test_jsonl_numbers_too_long_or_nesting_too_deep_are_invalid_json(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"text": "ok", "label": "pos"}) + '\n{"text": ' + "1" * 5000 + ', "label": "x"}\n'
                    + "[" * 100_000 + "\n")
    records, dead = load("classification", source=str(path))
    assert len(records) == 1 and reasons(dead) == {"2": common.INVALID_JSON, "3": common.INVALID_JSON}


@pytest.mark.parametrize("name, content, task, expected", [
    ("a.tsv", "\ufeffpos\tfine\n", "classification", [{"text": "fine", "label": "pos"}]),
    ("a.jsonl", '\ufeff{"text": "fine", "label": "pos"}\n', "classification", [{"text": "fine", "label": "pos"}]),
    ("a.csv", "\ufefftext,label\nfine,pos\n", "classification", [{"text": "fine", "label": "pos"}]),
    ("a.txt", "\ufeffone\n\ufefftwo\n", "language_model", [{"text": "one"}, {"text": "\ufefftwo"}]),  # once only
])
def test_utf8_bom_is_stripped_once(tmp_path, name, content, task, expected):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    kw = {"text_field": "1", "label_field": "0"} if name == "a.tsv" else {}
    records, dead = load(task, source=str(path), **kw)
    assert records == expected and dead == []
    assert common.read_lines(str(path))[0] == content.encode("utf-8")[3:].split(b"\n")[0]


def test_blank_lines_in_tsv_and_csv_are_skipped(tmp_path):
    (tmp_path / "a.tsv").write_text("pos\tfine\n\n   \nneg\tbad\n\n")
    records, dead = load("classification", source=str(tmp_path / "a.tsv"), text_field="1", label_field="0")
    assert len(records) == 2 and dead == []
    (tmp_path / "a.csv").write_text("\ntext,label\n\nfine,pos\n \n")
    records, dead = load("classification", source=str(tmp_path / "a.csv"))
    assert records == [{"text": "fine", "label": "pos"}] and dead == []


def test_csv_row_with_bare_carriage_return_is_a_dead_letter(tmp_path):
    path = tmp_path / "a.csv"  # found by test_reader_properties: csv.Error escaped
    path.write_bytes(b"text,label\nfine,pos\nbro\rken,neg\n")
    records, dead = load("classification", source=str(path))
    assert records == [{"text": "fine", "label": "pos"}]
    assert reasons(dead) == {"3": "invalid CSV row: new-line character seen in unquoted field"}
    path.write_bytes(b"te\rxt,label\nfine,pos\n")
    with pytest.raises(ValueError, match="header of .* is not a CSV row"):
        load("classification", source=str(path))


def test_conll_line_of_unicode_whitespace_does_not_crash(tmp_path):
    path = tmp_path / "eng.train"  # found by test_reader_properties: IndexError on "\x85"
    path.write_bytes("EU B-ORG\n\x85\nrejects O\n".encode("utf-8"))
    records, dead = load("tagging", source=str(path), format="conll")
    assert records == [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}] and dead == []


def test_directory_source_is_a_one_line_error(tmp_path):
    (tmp_path / "sub").mkdir()
    message = (f"data.source names a directory, not a file: '{tmp_path}'. "
               f"Give a file or a glob such as '{tmp_path}/*.tsv'.")
    with pytest.raises(ValueError) as error:
        common.open_binary(str(tmp_path))
    assert str(error.value) == message
    for fmt in ("tsv", "auto"):  # before the extension is looked at
        with pytest.raises(ValueError) as error:
            load("classification", source=str(tmp_path), format=fmt)
        assert str(error.value) == message
    with pytest.raises(ValueError, match=r"matches only directories, not a file: '.*sub'\. Give a file") as error:
        common.expand(str(tmp_path / "*"))
    assert len(str(error.value).splitlines()) == 1


def test_too_many_bad_rows_names_dead_letter_dir_and_first_three(tmp_path):
    from components.example_gen import check_bad_fraction
    dead = [{"location": f"a.tsv:{i}", "reason": "empty text", "raw": ""} for i in range(1, 6)]
    with pytest.raises(ValueError) as error:
        check_bad_fraction(5, 10, 0.1, {"empty text": 5}, tmp_path / "dead_letter", dead)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "First: a.tsv:1: empty text; a.tsv:2: empty text; a.tsv:3: empty text. " in message
    assert "a.tsv:4" not in message and f"The dead letters are in {tmp_path / 'dead_letter'}/ (kept" in message


def test_a_tsv_line_of_tabs_is_a_row_and_a_line_of_spaces_is_blank(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("one\teins\n\t\n   \ntwo\tzwei\n")
    records, dead = load("translation", source=str(path))
    assert [r["source"] for r in records] == ["one", "two"]
    assert list(reasons(dead)) == ["2"]  # the tab line: empty fields, with a reason


def test_headerless_negative_column_index_is_one_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("one\teins\n")
    with pytest.raises(ValueError, match=r"without a header needs column indices >= 0") as error:
        load("translation", source=str(path), source_field="0", target_field="-1")
    assert len(str(error.value).splitlines()) == 1


def test_csv_row_with_an_unclosed_quote_is_a_dead_letter(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('text,label\n"fine",pos\n"never closed,neg\nx"y,pos\n')
    records, dead = load("classification", source=str(path))
    assert records == [{"text": "fine", "label": "pos"}, {"text": 'x"y', "label": "pos"}]  # a bare quote is text
    assert list(reasons(dead)) == ["3"] and reasons(dead)["3"].startswith("invalid CSV row")
