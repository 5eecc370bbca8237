"""tf.distribute under Keras 3: the multi-worker workaround (pinned to the upstream failures) and mirrored
replicas that agree with one device. Each check runs in fresh processes (`distribute_worker.py`): a strategy
and logical devices are set once per TensorFlow process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("distribute_worker.py")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A localhost port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def tf_config(ports: list[int], index: int) -> str:
    """TF_CONFIG of worker `index` in a localhost cluster on `ports`."""
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _result(output: str) -> dict:
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    assert line is not None, output[-3000:]
    return json.loads(line[len("RESULT "):])


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **extra)


@pytest.mark.slow
def test_plain_multi_worker_reduce_still_rejects_what_keras_passes():
    """Two localhost workers: with either fix of `KerasMultiWorkerStrategy` off, Keras 3's fit fails with the
    upstream error (keras-team/keras#20329, #20585); with both on it trains, to the same weights on both workers.
    When an error below is None, Keras or TF fixed it: drop that half of the workaround (components/trainer/
    devices.py)."""
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, str(WORKER), "pin"], env=_env(TF_CONFIG=tf_config(ports, i)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    results = [_result(out) for out in outputs]
    for result in results:
        assert "Attempt to convert a value" in result["errors"]["without_nested_fix"]
        assert "Invalid reduction dimension 0" in result["errors"]["without_scalar_fix"]
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_equals_one_device():
    """Same model, seed and global batch (16): two replicas of 8 give one device's weights, to float rounding."""
    proc = subprocess.run([sys.executable, str(WORKER), "mirrored"], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = _result(proc.stdout)
    assert result["replicas"] == 2
    assert result["moved"] > 1e-2  # training changed the weights, so equal weights say something
    assert result["max_abs_diff"] < 1e-5
