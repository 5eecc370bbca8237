"""Beam pipeline construction shared by the Beam components.

Locally the pipeline runs in-process on the FnApiRunner, chosen explicitly:
recent Beam releases make `DirectRunner` try to download a Prism binary first,
which fails offline. Anything in `beam_args` passes through, so
`--runner=DataflowRunner --project=... --setup_file=./setup.py` (or Flink,
Spark) runs the same graph elsewhere. Without `--runner`, the FnApiRunner reads
the DirectOptions itself: `--direct_running_mode=multi_processing
--direct_num_workers=2` runs bundles in 2 SDK-worker subprocesses.

The portable path (the one Flink and Spark take) runs offline against Beam's
own job service: `local_job_service()` starts one in-process and gives the
`--runner=PortableRunner --job_endpoint=localhost:N --environment_type=LOOPBACK`
arguments (`--job_endpoint=embed` does the same without a gRPC port).
`local_job_service("EXTERNAL", sdk_workers=2)` runs the job on 2 SDK worker
processes started by Beam's worker pool (`sdk_worker_pool`), as a Flink or
Spark cluster would; nothing is downloaded (no Docker, Java or Prism).

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     _ = p | beam.Create([1, 2, 3])
>>> with local_job_service() as args:  # doctest: +SKIP
...     with make_pipeline(args) as p:
...         _ = p | beam.Create([1, 2, 3])
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, PortableOptions, StandardOptions
from apache_beam.portability.api import beam_job_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.local_job_service import BeamJob, LocalJobServicer

logger = logging.getLogger(__name__)


def pipeline_options(beam_args: Sequence[str] = ()) -> PipelineOptions:
    return PipelineOptions(list(beam_args), save_main_session=False)


def make_pipeline(beam_args: Sequence[str] = ()) -> beam.Pipeline:
    """A Beam pipeline: in-process FnApiRunner unless `--runner` is given."""
    options = pipeline_options(beam_args)
    runner_name = options.view_as(StandardOptions).runner
    if runner_name:
        logger.info("Beam runner: %s (from --beam-arg)", runner_name)
        return beam.Pipeline(options=options)
    direct = options.view_as(DirectOptions)
    logger.info(
        "Beam runner: FnApiRunner (offline-safe, running_mode=%s, num_workers=%s)",
        direct.direct_running_mode, direct.direct_num_workers,
    )
    # The FnApiRunner takes direct_running_mode / direct_num_workers from `options` in run_pipeline.
    return beam.Pipeline(runner=FnApiRunner(), options=options)


@contextlib.contextmanager
def local_job_service(environment_type: str = "LOOPBACK", sdk_workers: int = 1) -> Iterator[list[str]]:
    """Starts Beam's local job service in-process; yields the PortableRunner beam args.

    With LOOPBACK the SDK harness runs in this process, so nothing is
    downloaded and no container is started. With EXTERNAL, an SDK worker pool
    (`apache_beam.runners.worker.worker_pool_main`) runs as a subprocess of
    this process and starts each SDK worker as a process of its own;
    `sdk_workers` of them run every stage (`--sdk_worker_parallelism`), each
    importing TensorFlow once per pipeline. The service, the pool and its
    workers stop on exit.

    Example:

    >>> with local_job_service("EXTERNAL", sdk_workers=2) as args:  # doctest: +SKIP
    ...     with make_pipeline(args) as p:
    ...         _ = p | beam.Create(range(10)) | beam.Map(print)
    """
    if environment_type not in ("LOOPBACK", "EXTERNAL"):
        raise ValueError(f"environment_type must be 'LOOPBACK' or 'EXTERNAL'. Received: {environment_type!r}")
    if sdk_workers < 1 or (sdk_workers > 1 and environment_type == "LOOPBACK"):
        raise ValueError("sdk_workers must be 1 with LOOPBACK (the launcher is the one worker) and >= 1 with "
                         f"EXTERNAL. Received: sdk_workers={sdk_workers}, environment_type={environment_type!r}")
    servicer = LocalJobServicer(beam_job_type=ParallelBeamJob)
    port = servicer.start_grpc_server()
    args = ["--runner=PortableRunner", f"--job_endpoint=localhost:{port}", f"--environment_type={environment_type}"]
    try:
        if environment_type == "LOOPBACK":
            yield args
        else:
            with sdk_worker_pool() as pool_address:
                yield args + [f"--environment_config={pool_address}", f"--sdk_worker_parallelism={sdk_workers}"]
    finally:
        servicer.stop()


class ParallelBeamJob(BeamJob):
    """A local-job-service job that runs `--sdk_worker_parallelism` SDK workers.

    Beam's local job service calls `FnApiRunner.run_via_runner_api`, which
    keeps the runner's default of one worker whatever the options say (Beam
    2.77; `FnApiRunner.run_pipeline` is what reads `--direct_num_workers`).
    This job sets the runner's worker count from `--sdk_worker_parallelism`
    first, the option Flink and Spark job servers read for the same thing.
    """

    def _invoke_runner(self):
        self.set_state(beam_job_api_pb2.JobState.RUNNING)
        options = self.pipeline_options()
        runner = FnApiRunner(provision_info=self._provision_info)
        runner._num_workers = max(1, int(options.view_as(PortableOptions).sdk_worker_parallelism or 1))
        return runner.run_via_runner_api(self._pipeline_proto, options)


@contextlib.contextmanager
def sdk_worker_pool(start_timeout_s: float = 60.0) -> Iterator[str]:
    """Runs Beam's SDK worker pool as a subprocess (its own process group); yields its `localhost:N` address.

    The pool starts each SDK worker with the command `python -c ...`, so this
    interpreter's directory goes first on the pool's PATH, and the directory
    holding `components` on its PYTHONPATH (the workers unpickle our DoFns).
    """
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH", "")] if p)
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            with socket.socket() as s:
                if s.connect_ex(("localhost", port)) == 0:
                    break
            if pool.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Beam's SDK worker pool did not start on localhost:{port} "
                                   f"(exit code {pool.poll()}).")
            time.sleep(0.1)
        logger.info("SDK worker pool at localhost:%d (pid %d)", port, pool.pid)
        yield f"localhost:{port}"
    finally:
        try:
            os.killpg(pool.pid, signal.SIGTERM)  # the pool and the SDK workers it started
        except ProcessLookupError:
            pass
        pool.wait(timeout=30)
