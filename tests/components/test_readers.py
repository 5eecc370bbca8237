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
    cfg = load_config(None, ["task=tagging", "data.format=conllu", "data.conllu_tag=xpos", "data.iob2=true",
                             "data.tag_column=3", "data.tfds_split=train[:10]"])
    assert cfg.task == "tagging" and cfg.data.iob2 is True and cfg.data.tag_column == 3
    assert cfg.data.conllu_tag == "xpos" and cfg.data.tfds_split == "train[:10]"


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


def test_format_errors_name_the_fix(tmp_path):
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(ValueError, match="Set data.format"):
        load("classification", source=str(tmp_path / "x.parquet"))
    (tmp_path / "x.conllu").write_text("")
    with pytest.raises(ValueError, match="cannot feed task='classification'"):
        load("classification", source=str(tmp_path / "x.conllu"))


def test_tfds_sources_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        records, dead = load("classification", source="tfds:imdb_reviews")
        assert len(records) + len(dead) == 6
        assert {r["label"] for r in records} <= {"neg", "pos"}
        records, dead = load("language_model", source="tfds:tiny_shakespeare", tfds_split="test")
        assert len(records) + len(dead) == 6 and isinstance(records[0]["text"], str)
        records, dead = load("tagging", source="tfds:conll2003")
        assert len(records) + len(dead) == 6  # mock tags are random lengths: mismatches are dead letters
        assert all(len(r["tokens"]) == len(r["tags"]) for r in records)
        assert {d["reason"] for d in dead} <= {common.TAG_MISMATCH, common.EMPTY_TEXT}
        assert all(t.startswith(("B-", "I-", "O")) for r in records for t in r["tags"])
        with pytest.raises(ValueError, match="has no features"):
            load("translation", source="tfds:imdb_reviews")
