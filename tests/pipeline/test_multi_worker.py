"""`seqlab run --set train.strategy=multi_worker` on two localhost workers sharing one --root: both exit 0, they
end with the same weights, the chief's model.keras holds them, and the root has one set of artifacts and one
pushed version (pipeline/worker.py)."""

import io
import json
import time
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.runner import run_pipeline
from pipeline.worker import ChiefNotReadyError, upstream_state, wait_for_upstream
from tests.components.test_distribute import REPO, free_port, tf_config

TINY = ["data.num_examples=240", "train.epochs=1", "train.batch_size=32", "eval.bless_threshold=0.0",
        "model.embed_dim=8", "model.units=8", "train.strategy=multi_worker"]


def _weights(keras_file: Path) -> dict[str, np.ndarray]:
    """Every array in a .keras file's weights (model and optimizer), by its HDF5 path."""
    with zipfile.ZipFile(keras_file) as archive:
        blob = archive.read("model.weights.h5")
    arrays = {}
    with h5py.File(io.BytesIO(blob), "r") as h5:
        h5.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                      else None)
    return arrays


@pytest.mark.slow
def test_two_workers_train_one_model_and_only_the_chief_publishes(tmp_path):
    root, kept = tmp_path / "root", tmp_path / "worker1"
    ports = [free_port(), free_port()]
    command = [sys.executable, "-m", "pipeline.cli", "run", "date_validity", "--root", str(root),
               "--chief-timeout", "240", *[arg for key in TINY for arg in ("--set", key)]]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(env, TF_CONFIG=tf_config(ports, i),
                                       **({"SEQLAB_WORKER_KEEP_DIR": str(kept)} if i else {})))
             for i in range(2)]
    outputs = [p.communicate(timeout=420)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-4000:] + "\n-----\n" + outputs[1][-4000:]
    assert "TF_CONFIG worker 1: trained with the chief; nothing published" in outputs[1]

    summary = json.loads((root / "summary.json").read_text())
    assert summary["status"] == "succeeded"
    assert [s["status"] for s in summary["steps"]] == ["ran"] * 6
    for step in summary["steps"]:  # one artifact per step, nothing half-written beside it
        assert [p.name for p in (root / "artifacts" / step["name"]).iterdir()] == [step["fingerprint"]]
    assert [p.name for p in (root / "serving" / "date_validity").iterdir()] == ["1"]
    with sqlite3.connect(root / "metadata.sqlite") as db:  # the worker wrote no rows
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        assert db.execute("SELECT COUNT(*) FROM executions").fetchone() == (6,)
    assert not (root / ".lock.holder.json").exists()

    trainer = Path(next(s["artifact"] for s in summary["steps"] if s["name"] == "trainer"))
    chief, worker = _weights(trainer / "model.keras"), _weights(kept / "model.keras")
    assert chief.keys() == worker.keys() and len(chief) > 4
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)


def _publish(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "_outputs.json").write_text("{}")


def test_a_worker_waits_for_the_transform_and_skips_a_published_trainer(tmp_path):
    transform, trainer = tmp_path / "artifacts/transform/fp1", tmp_path / "artifacts/trainer/fp2"
    clock = iter(range(100)).__next__
    with pytest.raises(ChiefNotReadyError, match="did not publish transform .* within 3s"):
        wait_for_upstream(tmp_path, {"transform": transform}, trainer, True, timeout=3, poll=0, clock=clock)
    _publish(transform)
    assert wait_for_upstream(tmp_path, {"transform": transform}, trainer, True, timeout=3, poll=0)
    _publish(trainer)  # the chief reuses it: nothing to train
    assert not wait_for_upstream(tmp_path, {"transform": transform}, trainer, True, timeout=3, poll=0)


def test_a_worker_stops_when_the_chief_s_run_ends_without_the_transform(tmp_path):
    transform = tmp_path / "artifacts/transform/fp1"
    _publish(transform)  # from an earlier run: --no-cache waits for this run's
    statuses = iter(["running", "failed"])  # what the chief writes while the worker polls

    def clock():
        status = next(statuses, "failed")
        (tmp_path / "summary.json").write_text(json.dumps({"status": status}))
        return 0.0

    with pytest.raises(ChiefNotReadyError, match=r"chief's run in .* ended \(failed\) without publishing transform"):
        wait_for_upstream(tmp_path, {"transform": transform}, tmp_path / "t", False, timeout=60, poll=0, clock=clock)


def test_with_no_cache_a_transform_published_while_the_worker_joined_still_counts(tmp_path):
    """The state is noted before the worker joins: the chief may publish this run's transform (or end) in the
    moment between the join and the first poll, and the worker must see it, not wait out its timeout."""
    transform = tmp_path / "artifacts/transform/fp1"
    _publish(transform)  # an earlier run's
    before = upstream_state(tmp_path, {"transform": transform})
    time.sleep(0.01)
    _publish(transform)  # this run's, published right after the join
    assert wait_for_upstream(tmp_path, {"transform": transform}, tmp_path / "t", False, timeout=0, poll=0,
                             before=before)


def test_a_non_chief_only_trains_under_multi_worker_and_writes_nothing_before_the_trainer(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 1))
    config = load_config(["date_validity"])
    with pytest.raises(ValueError, match="only trains, with train.strategy='multi_worker'. Received: "
                                         "train.strategy='auto'"):
        run_pipeline(config, tmp_path / "root")
    summary = run_pipeline(config, tmp_path / "root", until="transform")
    assert summary["steps"] == [] and summary["published"] is False
    assert not (tmp_path / "root").exists()
