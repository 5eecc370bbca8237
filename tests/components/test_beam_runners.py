"""example_gen + transform give identical artifacts on every local runner, offline.

Runners: the default in-process FnApiRunner, the FnApiRunner with 2 SDK-worker
subprocesses (multi_processing), and the PortableRunner against Beam's local
job service (the path Flink and Spark take) with the LOOPBACK environment and
with 2 SDK worker processes from an EXTERNAL worker pool, there on a file
source so that example_gen's in-job read runs on the workers.
"""

import contextlib
import json
import socket
import urllib.request
from pathlib import Path
from typing import Iterator

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

import components.example_gen as example_gen
import components.transform as transform
from serving import schema
from components.beam_utils import local_job_service, make_pipeline
from pipeline.config import load_config
from components.step import StepContext

SOURCE = "builtin:dates?n=200"
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@contextlib.contextmanager
def no_network() -> Iterator[list]:
    """Makes any non-loopback connection or URL fetch in this process fail; yields the attempts."""
    attempts = []
    connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in LOOPBACK_HOSTS and not host.startswith("/"):
            attempts.append(address)
            raise OSError(f"network access in a test: {address}")
        return connect(sock, address)

    def no_urlopen(url, *args, **kwargs):
        attempts.append(url)
        raise OSError(f"network access in a test: {url}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(urllib.request, "urlopen", no_urlopen)
        yield attempts


def run_components(root: Path, beam_args: list[str], source: str = SOURCE) -> Path:
    """example_gen + transform on `source`; returns the transform artifact."""
    cfg = load_config(None, [f"data.source={source}"])
    raw, encoded = root / "example_gen", root / "transform"
    raw.mkdir(parents=True)
    encoded.mkdir()
    example_gen.run(StepContext(cfg, {}, raw, root, beam_args))
    transform.run(StepContext(cfg, {"example_gen": raw}, encoded, root, beam_args))
    return encoded


def read_artifact(encoded: Path) -> dict:
    """{split: set of (source, target, source_ids, target_ids)} plus the vocab files' text."""
    out = {}
    for split in schema.SPLITS:
        rows = set()
        for record in tf.data.TFRecordDataset(tf.io.gfile.glob(schema.split_glob(encoded, split)), "GZIP"):
            f = tf.train.Example.FromString(record.numpy()).features.feature
            rows.add((
                f[schema.RAW_SOURCE].bytes_list.value[0].decode(), f[schema.RAW_TARGET].bytes_list.value[0].decode(),
                tuple(f[schema.SOURCE_IDS].int64_list.value), tuple(f[schema.TARGET_IDS].int64_list.value),
            ))
        out[split] = rows
    for side in ("source", "target"):
        out[f"vocab/{side}"] = (encoded / schema.VOCAB_DIR / f"{side}.txt").read_text(encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> dict:
    with no_network() as attempts:
        encoded = run_components(tmp_path_factory.mktemp("in_process"), [])
    assert attempts == []
    return read_artifact(encoded)


def test_default_runner_is_fn_api_runner():
    pipeline = make_pipeline([])
    assert type(pipeline.runner) is FnApiRunner
    assert type(make_pipeline(MULTI_PROCESSING).runner) is FnApiRunner
    assert type(make_pipeline(["--runner=PortableRunner"]).runner).__name__ == "PortableRunner"


def test_in_process_runs_offline(in_process):
    with no_network() as attempts, make_pipeline([]) as p:
        _ = p | beam.Create([1, 2, 3]) | beam.combiners.Count.Globally()
    assert attempts == []
    assert sum(len(in_process[s]) for s in schema.SPLITS) == 200
    assert in_process["train"] and in_process["vocab/target"].splitlines()[:4] == list(schema.RESERVED_TOKENS)


@pytest.mark.slow  # ~30 s: each pipeline starts 2 SDK-worker subprocesses that import TensorFlow
def test_multi_processing_matches_in_process(tmp_path, in_process):
    assert read_artifact(run_components(tmp_path, MULTI_PROCESSING)) == in_process


def test_portable_loopback_matches_in_process(tmp_path, in_process):
    with no_network() as attempts, local_job_service() as beam_args:
        encoded = run_components(tmp_path, beam_args)
    assert attempts == []
    assert read_artifact(encoded) == in_process


@pytest.mark.slow  # ~40 s at load 7 on 2 cores: two pipelines each start 2 SDK workers that import TensorFlow
def test_portable_two_external_workers_match_in_process(tmp_path, in_process):
    """SOURCE's records as a TSV file (plus a bad row): read inside the job on the workers, same artifact."""
    from components.example_gen.dates import generate_dates

    pairs = tmp_path / "pairs.tsv"
    rows = "".join(f"{s}\t{t}\n" for s, t in generate_dates(200, load_config(None, []).data.seed))
    pairs.write_text(rows + "broken row\n", encoding="utf-8")
    with no_network() as attempts, local_job_service("EXTERNAL", sdk_workers=2) as beam_args:
        assert beam_args[-1] == "--sdk_worker_parallelism=2"
        encoded = run_components(tmp_path, beam_args, str(pairs))
    assert attempts == []
    assert read_artifact(encoded) == in_process
    assert json.loads((tmp_path / "example_gen/counts.json").read_text())["dead_letter"] == {
        "expected 2 tab-separated columns, got 1": 1}
