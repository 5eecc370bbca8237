"""The transform's Beam pipeline survives `to_runner_api` -> `Pipeline.from_runner_api` -> `to_runner_api`.

That round trip is what a portable runner (Flink, Spark, Dataflow) does with the job: the proto is what it gets.
The pipeline is only built, never run. The protos are compared as graphs: Beam renames coders, turns a composite's
Python type into a plain PTransform and re-pickles the DoFns, so the bytes differ while the graph does not.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from components.beam_utils import make_pipeline
from components.transform import spec_from_config
from components.transform.task_graph import build_task_transform
from pipeline.config import load_config


def coder_tree(components: beam_runner_api_pb2.Components, coder_id: str) -> tuple:
    """(urn, components...) of a coder, independent of its id; payloads (pickled Python coders) left out."""
    coder = components.coders[coder_id]
    return (coder.spec.urn, *(coder_tree(components, c) for c in coder.component_coder_ids))


def graph(proto: beam_runner_api_pb2.Pipeline) -> dict[str, Any]:
    """The pipeline's transforms (names, URNs, edges, nesting) and its PCollections' coders, by id."""
    c = proto.components
    return {
        "roots": list(proto.root_transform_ids),
        "transforms": {i: (t.unique_name, t.spec.urn, dict(t.inputs), dict(t.outputs), list(t.subtransforms),
                           t.environment_id) for i, t in c.transforms.items()},
        "pcollections": {i: (p.unique_name, coder_tree(c, p.coder_id), p.is_bounded, p.windowing_strategy_id)
                         for i, p in c.pcollections.items()},
        "environments": {i: e.urn for i, e in c.environments.items()},
    }


def dofn_types(pipeline: beam.Pipeline) -> dict[str, str]:
    """{full label: DoFn class name} of every ParDo in the pipeline."""
    found: dict[str, str] = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, beam.ParDo):
                found[node.full_label] = type(node.transform.fn).__qualname__

    pipeline.visit(Visitor())
    return found


@pytest.mark.parametrize("config_name", ["quickstart", "conll_ner"])  # translation (char); tagging (word, tags)
def test_the_transform_pipeline_round_trips_through_the_runner_api(config_name, tmp_path: Path):
    config = load_config([config_name])
    records = tmp_path / "raw.tfrecord.gz"
    records.write_bytes(gzip.compress(b""))  # ReadFromTFRecord checks at construction that the pattern matches
    pipeline = make_pipeline([])
    build_task_transform(pipeline, config.task, {"train": str(records), "eval": str(records)},
                         tmp_path / "out", tmp_path / "work", config.transform, spec_from_config(config))

    proto = pipeline.to_runner_api()
    rebuilt = beam.Pipeline.from_runner_api(proto, pipeline.runner, pipeline.options)
    again = rebuilt.to_runner_api()

    assert graph(again) == graph(proto)
    assert len(proto.components.transforms) > 50
    assert dofn_types(rebuilt) == dofn_types(pipeline)
    assert {"EncodeBatchFn", "PreTokenizeBatchFn"} <= set(dofn_types(rebuilt).values())
