"""The published layout (versioning, atomic publish, models.config) and the pusher's blessing gate."""

import json
import os
from pathlib import Path

import pytest

from components import pusher
from serving import layout
from pipeline.config import Config
from components.step import StepContext


def _fake_export(tmp: Path) -> None:
    tmp.mkdir(parents=True)
    (tmp / "saved_model.pb").write_bytes(b"fake")


def test_versions_increment_and_config_lists_models(tmp_path):
    serving = tmp_path / "serving"
    first, v1 = layout.publish(_fake_export, serving, "dates")
    second, v2 = layout.publish(_fake_export, serving, "dates")
    (serving / "dates" / "7").mkdir()  # a version pushed by someone else
    third, v3 = layout.publish(_fake_export, serving, "dates")
    layout.publish(_fake_export, serving, "other")
    assert (v1, v2, v3) == (1, 2, 8)
    assert first == serving / "dates" / "1" and (second / "saved_model.pb").exists()
    assert not [p for p in (serving / "dates").iterdir() if p.name.startswith(".tmp")]

    config = layout.write_models_config(serving).read_text()
    assert config.startswith("model_config_list {")
    assert f'base_path: "{(serving / "dates").resolve()}"' in config
    assert 'name: "other"' in config and config.count('model_platform: "tensorflow"') == 2
    assert not [p for p in serving.iterdir() if p.name.startswith(".models.config")]


def test_failed_export_leaves_no_version(tmp_path):
    serving = tmp_path / "serving"
    layout.publish(_fake_export, serving, "dates")

    def broken(tmp: Path) -> None:
        _fake_export(tmp)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        layout.publish(broken, serving, "dates")
    assert sorted(p.name for p in (serving / "dates").iterdir()) == ["1"]


def test_unblessed_model_is_not_pushed(tmp_path):
    evaluator = tmp_path / "evaluator"
    evaluator.mkdir()
    (evaluator / "blessing.json").write_text(json.dumps(
        {"blessed": False, "metric": "exact_match", "value": 0.5, "threshold": 0.9}))
    out = tmp_path / "out"
    out.mkdir()
    ctx = StepContext(config=Config(), inputs={"evaluator": evaluator, "trainer": tmp_path / "t",
                                              "transform": tmp_path / "x"},
                      output_dir=out, root=tmp_path)
    result = pusher.run(ctx)
    assert result == {"pushed": False, "reason": "exact_match 0.5000 < eval.bless_threshold 0.9"}
    assert json.loads((out / "pushed.json").read_text())["pushed"] is False
    assert not (tmp_path / "serving").exists()


def test_lower_is_better_metric_says_greater_than():
    reason = pusher.not_blessed_reason({"metric": "perplexity", "value": 12.5, "threshold": 8.0})
    assert reason == "perplexity 12.5000 > eval.bless_threshold 8.0"


def test_push_that_loses_a_version_race_takes_the_next_number(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    layout.publish(_fake_export, serving, "dates")  # version 1
    listings = []
    real = layout.existing_versions

    def racing(model_dir):  # the first listing misses version 2, which a racing push publishes meanwhile
        listings.append(1)
        if len(listings) == 1:
            seen = real(model_dir)
            _fake_export(model_dir / "2")
            return seen
        return real(model_dir)

    monkeypatch.setattr(layout, "existing_versions", racing)
    final, version = layout.publish(_fake_export, serving, "dates")
    assert version == 3 and final == serving / "dates" / "3"
    assert sorted(p.name for p in (serving / "dates").iterdir()) == ["1", "2", "3"]


def test_published_files_are_world_readable(tmp_path):
    serving = tmp_path / "serving"
    layout.publish(_fake_export, serving, "dates")
    old = os.umask(0o022)  # the usual umask: what `cp` would leave is 0644
    try:
        path = layout.write_models_config(serving)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # mkstemp alone would give 0600
