"""One real `seqlab serve` process on loopback for the module's tests, over tiny exports of every family."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.serving.server.exports import FAMILIES, export_family

REPO = Path(__file__).resolve().parents[3]
MAX_REQUEST_BYTES = 1 << 20
BATCHING = """max_batch_size { value: 8 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
allowed_batch_sizes: 4
allowed_batch_sizes: 8
pad_variable_length_inputs: true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def models_config(serving: Path) -> str:
    """translation: versions 1 and 2 (policy all, label stable -> 1); the others: latest."""
    entries = []
    for family in FAMILIES:
        extra = ""
        if family == "translation":
            extra = ' model_version_policy { all {} } version_labels { key: "stable" value: 1 }'
        entries.append(f'  config {{ name: "{family}" base_path: "{serving / family}" model_platform: "tensorflow"'
                       f"{extra} }}\n")
    return "model_config_list {\n" + "".join(entries) + "}\n"


class Server:
    def __init__(self, root: Path, proc: subprocess.Popen, grpc_port: int, rest_port: int):
        self.root, self.proc = root, proc
        self.grpc = f"127.0.0.1:{grpc_port}"
        self.rest = f"http://127.0.0.1:{rest_port}"
        self.serving = root / "serving"

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")


def start_server(root: Path, *extra: str) -> Server:
    grpc_port, rest_port = free_port(), free_port()
    log = open(root / "server.log", "w")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--model_config_file", str(root / "models.config"),
         "--port", str(grpc_port), "--rest_api_port", str(rest_port), "--file_system_poll_wait_seconds", "0.5",
         "--max_request_bytes", str(MAX_REQUEST_BYTES), *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    server = Server(root, proc, grpc_port, rest_port)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"seqlab serve exited with {proc.returncode}:\n{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.rest}/v1/models/{FAMILIES[-1]}", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"seqlab serve did not start:\n{server.log()[-3000:]}")


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    serving = root / "serving"
    for family in FAMILIES:
        export_family(family, root / "work", serving / family / "1", family)
    shutil.copytree(serving / "translation" / "1", serving / "translation" / "2")
    (root / "models.config").write_text(models_config(serving))
    (root / "batching_parameters.txt").write_text(BATCHING)
    server = start_server(root, "--enable_batching", "--batching_parameters_file", str(root / "batching_parameters.txt"))
    yield server
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
