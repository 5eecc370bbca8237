"""`seqlab run` killed with SIGKILL once in every step, at fixed crash points, then run to completion.

The short CI version of `benchmarks/fault_injection.py` (which kills at seeded random moments): one root,
six killed runs (each at the next step's crash point, `serving.faults`), then a run to the end. After every
kill nothing half-written looks finished; at the end the root is consistent, example_gen's and transform's
outputs hold the same records and vocabularies as a clean run's, the trainer resumed from its last epoch,
and exactly one complete SavedModel version is published.
"""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from pipeline import root_check
from pipeline.metadata import MetadataStore

from tests.test_end_to_end import SMALL

ARGS = [*SMALL, "--set", "train.epochs=2", "--set", "train.patience=5"]
CRASH_POINTS = ("example_gen:before_publish", "statistics:start", "transform:before_publish",
                "trainer:after_epoch_1", "evaluator:start", "pusher:before_version_rename")


def run_cli(root, fault=None, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("SEQLAB_FAULT", None)
    if fault:
        env["SEQLAB_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "run", *ARGS, *extra, "--root", str(root)],
                          capture_output=True, text=True, env=env)


def finished(root, step):
    return [p for p in (root / "artifacts" / step).glob("*") if not p.name.startswith(".")]


@pytest.mark.slow
def test_killed_in_every_step_then_rerun_gives_the_clean_result(tmp_path):
    root = tmp_path / "killed"
    logs = {}
    for point in CRASH_POINTS:
        result = run_cli(root, point)
        logs[point] = result.stdout + result.stderr
        assert result.returncode == -signal.SIGKILL, (point, logs[point][-3000:])
        assert root_check.problems(root, killed=True) == [], point
        step = point.split(":")[0]
        assert not finished(root, step), f"{step} was killed before publishing, yet looks finished"
    model_dir = root / "serving" / "dates"
    assert [p.name for p in model_dir.iterdir() if p.name.isdigit()] == []  # killed before the rename
    assert list(model_dir.glob(".tmp-*")), "the pusher's export is left under a temporary name"

    # The run killed at the evaluator resumed the trainer killed after epoch 1: epoch 2 only.
    resumed = logs["evaluator:start"]
    assert "[trainer] resuming from" in resumed
    assert re.findall(r"^Epoch (\d+)/2", resumed, re.MULTILINE) == ["2"], resumed[-3000:]

    final = run_cli(root)
    assert final.returncode == 0, final.stderr[-3000:]
    assert root_check.problems(root) == []
    assert not list(model_dir.glob(".tmp-*")), "leftovers of the killed pusher are cleaned"
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["export_dir"] == str(model_dir / "1")
    store = MetadataStore(root / "metadata.sqlite")
    assert [r["status"] for r in store.runs()] == ["interrupted"] * len(CRASH_POINTS) + ["succeeded"]

    clean = tmp_path / "clean"
    assert run_cli(clean, None, "--until", "transform").returncode == 0
    for step in ("example_gen", "transform"):
        (killed_dir,), (clean_dir,) = finished(root, step), finished(clean, step)
        assert killed_dir.name == clean_dir.name  # the same fingerprint
        assert root_check.artifact_contents(killed_dir) == root_check.artifact_contents(clean_dir), step
