"""statistics: per-task counts, lengths, label/tag distributions and anomalies on generated data."""

import json

import pytest

import components.example_gen as example_gen
from components import statistics
from pipeline.config import load_config
from components.step import StepContext


def run_both(tmp_path, overrides):
    cfg = load_config(None, overrides)
    raw, out = tmp_path / "example_gen", tmp_path / "statistics"
    raw.mkdir()
    out.mkdir()
    example_gen.run(StepContext(cfg, {}, raw, tmp_path))
    outputs = statistics.run(StepContext(cfg, {"example_gen": raw}, out, tmp_path))
    return outputs, json.loads((out / "stats.json").read_text()), json.loads((out / "anomalies.json").read_text())


def test_split_statistics_classification():
    records = [{"text": "a b c", "label": "pos"}, {"text": "dd", "label": "neg"}, {"text": "e", "label": "pos"}]
    s = statistics.split_statistics(records, "classification")
    assert s["records"] == 3 and s["tokens"] == 5
    assert s["labels"] == {"pos": 2, "neg": 1}
    assert s["text_length"]["max"] == 5 and s["characters"] == len(set("a b cdde"))


def test_anomalies_unseen_tags_empty_and_outliers():
    by_split = {
        "train": [{"tokens": ["a"] * 2, "tags": ["O", "B-PER"]}] * 50,
        "eval": [{"tokens": ["a"] * 40, "tags": ["O"] * 39 + ["B-LOC"]}],
        "test": [],
    }
    stats = {k: statistics.split_statistics(v, "tagging") for k, v in by_split.items()}
    anomalies = statistics.find_anomalies(stats, by_split, "tagging")
    kinds = {(a["split"], a["kind"]) for a in anomalies}
    assert kinds == {("eval", "length_outliers"), ("eval", "unseen_tags"), ("test", "empty_split")}
    assert next(a for a in anomalies if a["kind"] == "unseen_tags")["values"] == ["B-LOC"]
    line = statistics.summary_line(stats, anomalies, "tagging")
    assert "train 50 records/100 tokens" in line and "2 tags" in line and "unseen_tags" in line


def test_run_classification_from_jsonl(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": f"review {i} " * (1 + i % 5), "label": ["neg", "pos"][i % 2]}) + "\n"
                            for i in range(200)))
    outputs, stats, anomalies = run_both(tmp_path, ["task=classification", f"data.source={path}"])
    assert sum(outputs["records"].values()) == 200
    assert stats["train"]["labels"].keys() == {"neg", "pos"}
    assert outputs["labels"] == {split: stats[split].get("labels", {}) for split in stats}  # in summary.json
    assert sum(n for split in outputs["labels"].values() for n in split.values()) == 200
    assert stats["train"]["text_length"]["p50"] > 0
    assert not [a for a in anomalies if a["kind"].startswith("unseen")]


def test_run_translation_keeps_source_target_lengths(tmp_path):
    outputs, stats, _ = run_both(tmp_path, ["data.source=builtin:dates?n=100&seed=1"])
    assert sum(outputs["records"].values()) == 100
    assert {"source_length", "target_length"} <= set(stats["train"])
    assert statistics.read_raw_texts(tmp_path / "example_gen", "train", "translation")[0][1][:2] in ("19", "20", "18", "21")


@pytest.mark.parametrize("task", ["tagging"])
def test_run_tagging_reads_lists(tmp_path, task):
    path = tmp_path / "ud.conllu"
    path.write_text("".join(f"1\tw{i}\t_\tNOUN\tNN\t_\t0\troot\t_\t_\n2\t.\t_\tPUNCT\t.\t_\t1\tpunct\t_\t_\n\n"
                            for i in range(40)))
    outputs, stats, _ = run_both(tmp_path, [f"task={task}", "transform.tokenizer=word", f"data.source={path}"])
    assert sum(outputs["tokens"].values()) == 80
    assert stats["train"]["tags"] == {"NOUN": outputs["records"]["train"], "PUNCT": outputs["records"]["train"]}
