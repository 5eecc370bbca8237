"""The step graph and its fingerprints.

A step's fingerprint hashes its component version, the config sections it
reads (and the task), the content of every source it reads from outside the
run root (`pipeline.input_digest`), the versions of seqlab and of the
libraries that shape its output, and its upstream steps' fingerprints. Equal
fingerprint means equal output, so a finished artifact with that fingerprint
is reused.

Example:

>>> from pipeline.config import load_config
>>> cfg = load_config(["quickstart"])
>>> fps = fingerprints(cfg)
>>> fps["trainer"] != fingerprints(load_config(["quickstart"], ["train.epochs=2"]))["trainer"]
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping

from pipeline.config import Config
from pipeline.input_digest import code_versions


@dataclasses.dataclass(frozen=True)
class Step:
    """One node of the graph.

    Attributes:
        name: step name, also the artifact folder name.
        component: importable module exposing `run(ctx) -> dict`.
        sections: config sections the step reads.
        upstream: steps whose artifacts the step reads.
        version: bump when the component's output changes for the same inputs.
        resumable: keep the temporary directory of an interrupted attempt, so
            the component can resume from it (the trainer's checkpoints).
        source_keys: config keys naming sources the step reads from outside
            the run root; their content is part of the fingerprint.
    """

    name: str
    component: str
    sections: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    version: str = "1"
    resumable: bool = False
    source_keys: tuple[str, ...] = ()

    def sources(self, config: Config) -> dict[str, str]:
        """{config key: URI} of the sources this step reads under `config`."""
        full = config.to_dict()
        out = {}
        for key in self.source_keys:
            section, name = key.split(".")
            out[key] = full[section][name]
        return out


STEPS: tuple[Step, ...] = (
    Step("example_gen", "components.example_gen", ("data",), version="2",
         source_keys=("data.source", "data.target_source", "data.eval_source", "data.eval_target_source")),
    Step("statistics", "components.statistics", (), ("example_gen",), version="2"),
    Step("transform", "components.transform", ("transform",), ("example_gen",), version="3",
         source_keys=("transform.vocab_vectors",)),
    Step("trainer", "components.trainer", ("model", "train"), ("transform",), resumable=True,
         source_keys=("model.pretrained_embeddings",)),
    Step("evaluator", "components.evaluator", ("eval",), ("transform", "trainer")),
    Step("pusher", "components.pusher", ("push", "eval"), ("transform", "trainer", "evaluator")),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)


def steps_until(until: str | None = None) -> tuple[Step, ...]:
    """The steps in order, up to and including `until`."""
    if until is None:
        return STEPS
    if until not in STEP_NAMES:
        raise ValueError(f"Unknown step '{until}'. Available: {list(STEP_NAMES)}")
    return STEPS[: STEP_NAMES.index(until) + 1]


def fingerprint(step: Step, config: Config, upstream: Mapping[str, str],
                sources: Mapping[str, Any] | None = None, code: Mapping[str, str] | None = None) -> str:
    """The step's cache key.

    Args:
        step: the step.
        config: the effective config.
        upstream: fingerprints of the steps before it.
        sources: `input_digest.digest_sources(step.sources(config))`, the content of what it reads.
        code: `input_digest.code_versions()` (computed when None).
    """
    full = config.to_dict()
    payload = {
        "step": step.name,
        "version": step.version,
        "task": config.task,
        "config": {s: full[s] for s in step.sections},
        "upstream": {name: upstream[name] for name in step.upstream},
        "sources": dict(sources or {}),
        "code": dict(code if code is not None else code_versions()),
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def fingerprints(config: Config, steps: tuple[Step, ...] = STEPS,
                 sources: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """Fingerprint of every step, computed in graph order.

    Args:
        config: the effective config.
        steps: the steps, in graph order.
        sources: {step name: its source digests}; the runner computes them (they read files).
    """
    code = code_versions()
    out: dict[str, str] = {}
    for step in steps:
        out[step.name] = fingerprint(step, config, out, (sources or {}).get(step.name), code)
    return out
