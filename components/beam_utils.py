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
from typing import Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

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
def local_job_service(environment_type: str = "LOOPBACK") -> Iterator[list[str]]:
    """Starts Beam's local job service in-process; yields the PortableRunner beam args.

    With LOOPBACK the SDK harness runs in this process, so nothing is
    downloaded and no container is started. The service stops on exit.
    """
    from apache_beam.runners.portability.local_job_service import LocalJobServicer

    servicer = LocalJobServicer()
    port = servicer.start_grpc_server()
    try:
        yield ["--runner=PortableRunner", f"--job_endpoint=localhost:{port}", f"--environment_type={environment_type}"]
    finally:
        servicer.stop()
