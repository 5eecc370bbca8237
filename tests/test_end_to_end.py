"""One end-to-end run of the CLI on a small dates corpus: ran, cached, partial re-run, predict."""

import json
import os
import subprocess
import sys

import pytest

from pipeline.quiet import BEAM_NOISE, NOISE

SMALL = [
    "--set", "data.source=builtin:dates?n=600",
    "--set", "model.units=32", "--set", "model.embed_dim=16", "--set", "model.attention_units=16",
    "--set", "train.epochs=1", "--set", "train.batch_size=32",
    "--set", "eval.bless_threshold=0.0", "--set", "eval.num_attention_plots=1",
]


def seqlab(*args, root):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--root", str(root)],
        capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    noise = [line for line in result.stderr.splitlines() if NOISE.search(line) or BEAM_NOISE.search(line)]
    assert not noise, noise  # TensorFlow's and Beam's start-up noise is filtered out
    return json.loads((root / "summary.json").read_text())


def statuses(summary):
    return {s["name"]: s["status"] for s in summary["steps"]}


@pytest.mark.slow
def test_run_cache_rerun_and_predict(tmp_path):
    root = tmp_path / "runs"
    first = seqlab("run", *SMALL, root=root)
    assert set(statuses(first).values()) == {"ran"}
    assert set(first["metrics"]) >= {"eval", "test"}
    assert {"exact_match", "cer", "bleu"} <= set(first["metrics"]["eval"])
    export_dir = first["export_dir"]
    assert export_dir and os.path.isdir(export_dir)
    assert os.path.exists(root / "serving" / "models.config")
    artifacts = root / "artifacts"
    assert not list(artifacts.glob("*/.*incomplete")), "no temporary artifact may remain"

    second = seqlab("run", *SMALL, root=root)
    assert set(statuses(second).values()) == {"cached"}
    assert second["export_dir"] == export_dir

    third = seqlab("run", *SMALL, "--set", "train.epochs=2", root=root)
    ran = {name for name, status in statuses(third).items() if status == "ran"}
    assert ran == {"trainer", "evaluator", "pusher"}
    assert third["export_dir"] != export_dir

    # the model's base path (its latest version, as TF Serving picks) and one text per line from stdin
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", str(root / "serving" / "dates"), "-"],
        input="3 March 1998\nTuesday, March 3, 1998\n", capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [row["text"] for row in rows] == ["3 March 1998", "Tuesday, March 3, 1998"]
    assert all(isinstance(row["translation"], str) for row in rows)
    assert third["export_dir"].endswith(os.path.join("dates", "2"))
