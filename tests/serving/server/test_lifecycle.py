"""Lifecycle of `seqlab serve`: a pushed version goes live within the poll interval while requests keep
succeeding, the old one unloads by policy; `seqlab predict --server`; hostile input; SIGTERM drains."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import threading
import time

import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.serving.server.test_api import http, stubs  # noqa: F401  (fixture)


def _states(server, model):
    status, body = http(server, "GET", f"/v1/models/{model}")
    return {int(v["version"]): v["state"] for v in body["model_version_status"]} if status == 200 else {}


def test_pushed_version_goes_live_within_the_poll_interval_without_failed_requests(server):
    failures, done, count = [], threading.Event(), [0]

    def load():
        while not done.is_set():
            status, body = http(server, "POST", "/v1/models/classification:predict", '{"instances": ["abc", "d"]}')
            count[0] += 1
            if status != 200:
                failures.append((status, body))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        tmp = server.serving / "classification" / ".tmp-push"
        shutil.copytree(server.serving / "classification" / "1", tmp)
        tmp.rename(server.serving / "classification" / "2")  # as serving/layout.py publishes
        pushed = time.monotonic()
        while _states(server, "classification") != {1: "END", 2: "AVAILABLE"}:
            assert time.monotonic() - pushed < 20, _states(server, "classification")
            time.sleep(0.1)
        live_after = time.monotonic() - pushed
        time.sleep(0.3)
    finally:
        done.set()
        for worker in workers:
            worker.join()
    assert failures == [] and count[0] > 10
    assert live_after < 0.5 + 10  # poll interval + load and warmup of a tiny model on a busy 2-core machine
    status, body = http(server, "POST", "/v1/models/classification/versions/1:predict", '{"instances": ["a"]}')
    assert (status, body) == (404, {"error": "Servable not found for request: Specific(classification, 1)"})


def test_reload_config_over_grpc(server, stubs):
    from tensorflow_serving.apis import model_management_pb2
    from tensorflow_serving.config import model_server_config_pb2
    from google.protobuf import text_format

    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((server.root / "models.config").read_text(), config)
    config.model_config_list.config[0].version_labels["canary"] = 9  # no version 9
    with pytest.raises(grpc.RpcError) as info:  # TF Serving answers the reload's status as the RPC's
        stubs[1].HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == ("Request to assign label to version 9 of model translation, which is not "
                                    "currently available for inference")
    del config.model_config_list.config[0].version_labels["canary"]
    config.model_config_list.config[0].version_labels["canary"] = 2
    response = stubs[1].HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
    assert response.status.error_code == 0
    assert http(server, "POST", "/v1/models/translation/labels/canary:predict", '{"instances": ["a"]}')[0] == 200


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_seqlab_predict_server(server, capsys, protocol):
    from pipeline.cli import main

    address = server.rest.removeprefix("http://") if protocol == "rest" else server.grpc
    assert main(["predict", "--server", address, "--protocol", protocol, "tagging", "march 3 , 1998", "x"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["march 3 , 1998", "x"]
    assert rows[0]["tokens"] == ["march", "3", ",", "1998"] and rows[1]["tokens"] == ["x"]
    assert len(rows[0]["tags"]) == 4 and rows[0]["length"] == 4
    assert main(["predict", "--server", address, "--protocol", protocol, "nope", "x"]) == 2
    assert "Servable not found for request: Latest(nope)" in capsys.readouterr().err


PATHS = st.one_of(st.sampled_from(["/v1/models/classification:predict", "/v1/models/classification",
                                   "/v1/models/classification/metadata", "/v1/models/x/labels/y:regress"]),
                  st.text(alphabet="/v1modelsabc:%?#.-_ 2", max_size=40).map(lambda p: "/" + p.lstrip("/")))
BODIES = st.one_of(st.binary(max_size=200),
                   st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                                lambda c: st.lists(c, max_size=4) | st.dictionaries(
                                    st.sampled_from(["instances", "inputs", "text", "b64", "signature_name"]), c,
                                    max_size=3), max_leaves=10).map(lambda v: json.dumps(v).encode()))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]), path=PATHS, body=BODIES)
def test_fuzzed_requests_never_crash_nor_answer_5xx(server, method, path, body):
    import urllib.parse

    quoted = urllib.parse.quote(path, safe="/:%?#")
    status, _ = http(server, method, quoted, body if method != "GET" else None)
    assert status < 500, (method, path, body)


def test_slow_client_and_garbage_do_not_block_the_server(server):
    host, port = server.rest.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST /v1/models/classification:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    garbage = socket.create_connection((host, int(port)))
    garbage.sendall(b"\x00\xff not http at all\r\n\r\n")
    try:
        assert http(server, "POST", "/v1/models/classification:predict", '{"instances": ["a"]}')[0] == 200
    finally:
        slow.close()
        garbage.close()


def test_sigterm_drains_requests_in_flight(server):
    """Last test of the package: the server stops."""
    result = {}

    def slow_request():
        body = json.dumps({"signature_name": "generate", "inputs": {"prompt": ["ab"] * 64, "max_new_tokens": 200,
                                                                     "temperature": 1.0, "top_k": 0, "seed": 1}})
        result["answer"] = http(server, "POST", "/v1/models/language_model:predict", body)

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=120)
    assert server.proc.wait(timeout=60) == 0
    assert result["answer"][0] == 200
    assert "Draining" in server.log() and "Server stopped" in server.log()
