"""Load, soak and hot reload against `seqlab serve` on loopback: N concurrent REST clients for a bounded time.

Prints per mode (batching off / on): requests, errors, throughput, p50/p99 latency, and the server's resident
memory sampled over the run (first, last, max); with --push-during, a new version is published mid-run (copy
+ atomic rename, as the pusher does) and the script reports failed requests during the swap and how long after
the push the answers came from the new version (gRPC model_spec.version).

    python benchmarks/serve_load.py --clients 64 --seconds 60              # tiny exports of classification
    python benchmarks/serve_load.py --seconds 600 --modes on               # a 10-minute soak
    python benchmarks/serve_load.py --serving-dir seqlab_runs/serving --model dates --push-during
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_from_metrics(rest: str) -> int:
    with urllib.request.urlopen(f"{rest}/monitoring/prometheus/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("process_resident_memory_bytes"):
                return int(line.split()[1])
    return 0


def start(serving_dir: Path, batching: bool, poll: float) -> tuple[subprocess.Popen, str, str]:
    from tests.serving.server.conftest import free_port

    grpc_port, rest_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "pipeline.cli", "serve", str(serving_dir), "--port", str(grpc_port),
           "--rest_api_port", str(rest_port), "--file_system_poll_wait_seconds", str(poll),
           "--rest_api_num_threads", "16"]
    if batching:
        cmd += ["--enable_batching", "--batching_parameters_file", str(serving_dir / "batching_parameters.txt")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rest = f"http://127.0.0.1:{rest_port}"
    for _ in range(600):
        try:
            rss_from_metrics(rest)
            return proc, rest, f"127.0.0.1:{grpc_port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def client(port: int, path: str, body: bytes, stop: threading.Event, latencies: list, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        start = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
            else:
                latencies.append(time.perf_counter() - start)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(type(exc).__name__)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def watch_versions(grpc_address: str, model: str, stop: threading.Event, seen: list) -> None:
    from serving.client import GrpcClient
    from tensorflow_serving.apis import predict_pb2
    import tensorflow as tf

    client_ = GrpcClient(grpc_address)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(["abc"]))
    while not stop.is_set():
        try:
            seen.append((time.monotonic(), client_.prediction.Predict(request, timeout=30).model_spec.version.value))
        except Exception as exc:  # noqa: BLE001
            seen.append((time.monotonic(), f"error {exc}"))
        time.sleep(0.05)


def watch_status(grpc_address: str, model: str, stop: threading.Event, seen: list) -> None:
    """Every 50 ms, the model's versions and states (ModelService.GetModelStatus): when the server found a pushed
    version on disk (first listed) and when it finished loading it (AVAILABLE)."""
    from serving.client import GrpcClient

    client_ = GrpcClient(grpc_address)
    while not stop.is_set():
        try:
            status = client_.status(model)
            seen.append((time.monotonic(), {s.version: s.state for s in status.model_version_status}))
        except Exception:  # noqa: BLE001  (the Predict watcher counts errors)
            pass
        time.sleep(0.05)


def run_mode(serving_dir: Path, model: str, batching: bool, clients: int, seconds: float, push: bool,
             poll: float) -> dict:
    proc, rest, grpc_address = start(serving_dir, batching, poll)
    port = int(rest.rsplit(":", 1)[1])
    body = json.dumps({"instances": ["tuesday , march 3 , 1998"]}).encode()
    stop, latencies, errors, memory, versions, states = threading.Event(), [], [], [], [], []
    threads = [threading.Thread(target=client, args=(port, f"/v1/models/{model}:predict", body, stop, latencies,
                                                    errors)) for _ in range(clients)]
    if push:
        threads.append(threading.Thread(target=watch_versions, args=(grpc_address, model, stop, versions)))
        threads.append(threading.Thread(target=watch_status, args=(grpc_address, model, stop, states)))
    begin = time.monotonic()
    for thread in threads:
        thread.start()
    pushed_at, new_version = None, None
    while time.monotonic() - begin < seconds:
        time.sleep(1.0)
        memory.append(rss_from_metrics(rest))
        if push and pushed_at is None and time.monotonic() - begin > seconds / 3:
            model_dir = serving_dir / model
            latest = max(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
            new_version = latest + 1
            shutil.copytree(model_dir / str(latest), model_dir / ".tmp-bench")
            (model_dir / ".tmp-bench").rename(model_dir / str(new_version))
            pushed_at = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    latencies.sort()
    result = {"batching": batching, "clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies),
              "errors": len(errors), "rps": round(len(latencies) / elapsed, 1),
              "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
              "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
              "rss_mb_first_last_max": [round(m / 2**20) for m in (memory[0], memory[-1], max(memory))]}
    if push:
        switched = next((t for t, v in versions if t >= pushed_at and v == new_version), None)
        from tensorflow_serving.apis import get_model_status_pb2

        found = next((t for t, v in states if t >= pushed_at and new_version in v), None)
        loaded = next((t for t, v in states if t >= pushed_at and v.get(new_version) == get_model_status_pb2.
                       ModelVersionStatus.AVAILABLE), None)

        def after(t):
            return round(t - pushed_at, 2) if t else None

        result["push"] = {"new_version": new_version, "found_after_s": after(found),
                          "available_after_s": after(loaded), "live_after_s": after(switched),
                          "grpc_errors": sum(isinstance(v, str) for _, v in versions),
                          "old_answers_after_switch": sum(1 for t, v in versions if switched and t > switched
                                                          and v != new_version)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serving-dir", help="a pushed serving/ folder (default: tiny exports in a temp dir)")
    parser.add_argument("--model", default="classification")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--modes", default="off,on", help="batching modes to run: off,on")
    parser.add_argument("--push-during", action="store_true", help="publish version N+1 a third of the way in")
    parser.add_argument("--poll", type=float, default=1.0, help="--file_system_poll_wait_seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.serving_dir:
            serving_dir = Path(args.serving_dir)
        else:
            from serving import layout
            from tests.serving.server.exports import export_family

            serving_dir = Path(tmp) / "serving"
            export_family(args.model, Path(tmp) / "work", serving_dir / args.model / "1", args.model)
            layout.write_models_config(serving_dir)
            layout.write_batching_parameters(serving_dir)
        for mode in args.modes.split(","):
            print(json.dumps(run_mode(serving_dir, args.model, mode == "on", args.clients, args.seconds,
                                      args.push_during, args.poll)), flush=True)


if __name__ == "__main__":
    main()
