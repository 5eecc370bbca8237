"""Caching decisions, atomic artifacts and summary.json, with fake components."""

import json

import pytest

from pipeline import runner
from pipeline.config import load_config
from pipeline.dag import STEP_NAMES, fingerprints


class FakeComponents:
    """Stands in for the real components: records calls, can crash on demand."""

    def __init__(self):
        self.calls = []
        self.crash_in = None

    def __call__(self, step, ctx):
        self.calls.append(step.name)
        for name, path in ctx.inputs.items():
            assert (path / "payload.txt").exists(), f"{step.name} got an unfinished {name}"
        (ctx.output_dir / "payload.txt").write_text(step.name)
        if step.name == self.crash_in:
            raise RuntimeError(f"boom in {step.name}")
        outputs = {"step": step.name}
        if step.name == "evaluator":
            outputs.update(metrics={"eval": {"exact_match": 1.0}}, blessed=True)
        return outputs


@pytest.fixture
def fake(monkeypatch):
    components = FakeComponents()
    monkeypatch.setattr(runner, "_run_component", components)
    return components


def statuses(summary):
    return {s["name"]: s["status"] for s in summary["steps"]}


def test_second_run_is_all_cached(tmp_path, fake):
    cfg = load_config(None)
    first = runner.run_pipeline(cfg, tmp_path)
    assert set(statuses(first).values()) == {"ran"}
    second = runner.run_pipeline(cfg, tmp_path)
    assert set(statuses(second).values()) == {"cached"}
    assert fake.calls == list(STEP_NAMES)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"] == {"eval": {"exact_match": 1.0}}
    assert summary["blessed"] is True
    assert summary["run_id"] == 2
    assert summary["config"]["name"] == "quickstart"


def test_changing_epochs_reruns_only_downstream(tmp_path, fake):
    runner.run_pipeline(load_config(None), tmp_path)
    fake.calls.clear()
    summary = runner.run_pipeline(load_config(None, ["train.epochs=2"]), tmp_path)
    assert fake.calls == ["trainer", "evaluator", "pusher"]
    assert statuses(summary)["transform"] == "cached"


def test_changing_data_reruns_everything(tmp_path, fake):
    runner.run_pipeline(load_config(None), tmp_path)
    fake.calls.clear()
    runner.run_pipeline(load_config(None, ["data.seed=7"]), tmp_path)
    assert fake.calls == list(STEP_NAMES)


def test_crash_leaves_no_finished_artifact(tmp_path, fake):
    cfg = load_config(None)
    fake.crash_in = "transform"
    with pytest.raises(RuntimeError, match="boom"):
        runner.run_pipeline(cfg, tmp_path)
    fps = fingerprints(cfg)
    assert not runner.artifact_dir(tmp_path, "transform", fps["transform"]).exists()
    assert runner.artifact_dir(tmp_path, "example_gen", fps["example_gen"]).exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert statuses(summary) == {"example_gen": "ran", "statistics": "ran", "transform": "failed"}

    fake.crash_in = None
    fake.calls.clear()
    again = runner.run_pipeline(cfg, tmp_path)
    assert fake.calls == ["transform", "trainer", "evaluator", "pusher"]
    assert statuses(again)["example_gen"] == "cached"


def test_until_and_no_cache(tmp_path, fake):
    cfg = load_config(None)
    summary = runner.run_pipeline(cfg, tmp_path, until="transform")
    assert [s["name"] for s in summary["steps"]] == ["example_gen", "statistics", "transform"]
    fake.calls.clear()
    runner.run_pipeline(cfg, tmp_path, until="transform", use_cache=False)
    assert fake.calls == ["example_gen", "statistics", "transform"]
    with pytest.raises(ValueError, match="Unknown step"):
        runner.run_pipeline(cfg, tmp_path, until="trainr")


def test_metadata_records_lineage(tmp_path, fake):
    from pipeline.metadata import MetadataStore

    runner.run_pipeline(load_config(None), tmp_path)
    store = MetadataStore(tmp_path / "metadata.sqlite")
    pushed = store.record_artifact(
        "pusher", fingerprints(load_config(None))["pusher"],
        str(runner.artifact_dir(tmp_path, "pusher", fingerprints(load_config(None))["pusher"])))
    steps = {c["step"] for c in store.lineage(pushed)}
    assert steps == {"pusher", "evaluator", "trainer", "transform", "example_gen"}
