"""The step graph and its fingerprints.

A step's fingerprint hashes its component version, the config sections it
reads (and the task), and its upstream steps' fingerprints. Equal fingerprint
means equal output, so a finished artifact with that fingerprint is reused.

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

from components.schema import TASKS
from pipeline.config import Config

MODEL_TASKS = ("translation", "classification", "tagging", "language_model")


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
        tasks: the tasks the component handles.
    """

    name: str
    component: str
    sections: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    version: str = "1"
    resumable: bool = False
    tasks: tuple[str, ...] = TASKS


STEPS: tuple[Step, ...] = (
    Step("example_gen", "components.example_gen", ("data",)),
    Step("statistics", "components.statistics", (), ("example_gen",), version="2"),
    Step("transform", "components.transform", ("transform",), ("example_gen",)),
    Step("trainer", "components.trainer", ("model", "train"), ("transform",), resumable=True,
         tasks=MODEL_TASKS),
    Step("evaluator", "components.evaluator", ("eval",), ("transform", "trainer"),
         tasks=MODEL_TASKS),
    Step("pusher", "components.pusher", ("push", "eval"), ("transform", "trainer", "evaluator"),
         tasks=MODEL_TASKS),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)


def steps_until(until: str | None = None) -> tuple[Step, ...]:
    """The steps in order, up to and including `until`."""
    if until is None:
        return STEPS
    if until not in STEP_NAMES:
        raise ValueError(f"Unknown step '{until}'. Available: {list(STEP_NAMES)}")
    return STEPS[: STEP_NAMES.index(until) + 1]


def check_tasks(steps: tuple[Step, ...], task: str) -> None:
    """Raises before anything runs when a step cannot handle `task`."""
    for step in steps:
        if task not in step.tasks:
            raise ValueError(
                f"Step '{step.name}' does not handle task '{task}' yet. Supported: "
                f"{list(step.tasks)}. Run the steps before it with --until "
                f"{STEP_NAMES[STEP_NAMES.index(step.name) - 1]}."
            )


def fingerprint(step: Step, config: Config, upstream: dict[str, str]) -> str:
    full = config.to_dict()
    payload = {
        "step": step.name,
        "version": step.version,
        "task": config.task,
        "config": {s: full[s] for s in step.sections},
        "upstream": {name: upstream[name] for name in step.upstream},
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def fingerprints(config: Config, steps: tuple[Step, ...] = STEPS) -> dict[str, str]:
    """Fingerprint of every step, computed in graph order."""
    out: dict[str, str] = {}
    for step in steps:
        out[step.name] = fingerprint(step, config, out)
    return out
