"""Hostile input against `seqlab serve`: property-based requests (hypothesis: arbitrary methods, paths, headers
and bodies), oversized bodies and slow clients; after each, a valid request must still succeed.

Prints the number of requests, the status codes seen, 5xx answers (must be 0), and whether the server process
is still alive.

    python benchmarks/serve_fuzz.py --n 1000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADERS = st.dictionaries(st.sampled_from(["Content-Type", "Content-Encoding", "Accept", "X-Any", "Origin"]),
                          st.text(alphabet="abcdefghij/;=-*: ", max_size=20), max_size=3)


def send(rest: str, method: str, path: str, body: bytes | None, headers: dict) -> int:
    request = urllib.request.Request(rest + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="hypothesis examples (one request each)")
    args = parser.parse_args()
    from tests.serving.server.conftest import MAX_REQUEST_BYTES, free_port
    from tests.serving.server.exports import export_family
    from tests.serving.server.test_lifecycle import BODIES, PATHS

    tmp = Path(tempfile.mkdtemp())
    export_family("classification", tmp / "work", tmp / "serving" / "classification" / "1", "classification")
    grpc_port, rest_port = free_port(), free_port()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", str(tmp / "serving"), "--port",
                             str(grpc_port), "--rest_api_port", str(rest_port), "--max_request_bytes",
                             str(MAX_REQUEST_BYTES)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rest = f"http://127.0.0.1:{rest_port}"
    valid = json.dumps({"instances": ["abc"]}).encode()
    for _ in range(600):
        try:
            send(rest, "GET", "/v1/models/classification", None, {})
            break
        except OSError:
            time.sleep(0.2)
    codes: collections.Counter = collections.Counter()
    failures = []

    @settings(max_examples=args.n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]), path=PATHS, body=BODIES,
           headers=HEADERS)
    def fuzz(method, path, body, headers):
        status = send(rest, method, urllib.parse.quote(path, safe="/:%?#"), body if method != "GET" else None,
                      headers)
        codes[status] += 1
        if status >= 500:
            failures.append((method, path, body[:100], status))
        after = send(rest, "POST", "/v1/models/classification:predict", valid, {})
        if after != 200:
            failures.append(("valid request after", method, path, after))

    start = time.monotonic()
    fuzz()
    oversized = send(rest, "POST", "/v1/models/classification:predict", b"[" * (MAX_REQUEST_BYTES + 10), {})
    slow = [socket.create_connection(("127.0.0.1", rest_port)) for _ in range(32)]
    for sock in slow:  # headers promising a body that never comes
        sock.sendall(b"POST /v1/models/classification:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    during_slow = send(rest, "POST", "/v1/models/classification:predict", valid, {})
    for sock in slow:
        sock.close()
    after_all = send(rest, "POST", "/v1/models/classification:predict", valid, {})
    alive = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    print(json.dumps({"fuzzed_requests": sum(codes.values()), "status_codes": dict(sorted(codes.items())),
                      "5xx_or_failed_follow_up": len(failures), "examples": failures[:5],
                      "oversized_body_status": oversized, "valid_request_with_32_slow_clients": during_slow,
                      "valid_request_after_all": after_all, "server_alive": alive,
                      "seconds": round(time.monotonic() - start, 1)}))


if __name__ == "__main__":
    main()
