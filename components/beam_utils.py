"""Beam pipeline construction shared by the Beam components.

Locally the pipeline runs in-process on the FnApiRunner, chosen explicitly:
recent Beam releases make `DirectRunner` try to download a Prism binary first,
which fails offline. Anything in `beam_args` passes through, so
`--runner=DataflowRunner --project=... --setup_file=./setup.py` (or Flink,
Spark, `--direct_running_mode=multi_processing --direct_num_workers=2`) runs
the same graph elsewhere.

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     _ = p | beam.Create([1, 2, 3])
"""

from __future__ import annotations

import logging
from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
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
    logger.info("Beam runner: FnApiRunner (in-process, offline-safe)")
    return beam.Pipeline(runner=FnApiRunner(), options=options)
