"""The task registry: `get_task(name)` is how every step learns what differs per task.

The built-in families (`components/tasks/`: translation, classification, tagging, language_model) register
themselves when `components.tasks` is imported, which the first lookup does if nothing has yet (the
config loader imports it first in practice). The registry imports no task module itself, so a step that
looks up its task and a task that calls the steps' helpers never form an import cycle. A new family
registers itself with `register_task` (see `components/tasks/base.py`).

Example:

>>> get_task("translation").decoding
'beam'
"""

from __future__ import annotations

import importlib
from typing import Any

Task = Any  # a `components.tasks.base.Task` (not imported: the registry sits below the tasks)
TASKS: dict[str, Task] = {}
BUILT_IN = "components.tasks"


def register_task(task: Task) -> Task:
    """Adds `task` under `task.name` (replacing one of the same name) and returns it."""
    if not task.name or not task.families:
        raise ValueError(f"A task needs a name and at least one model family. Received: {type(task).__name__}")
    TASKS[task.name] = task
    return task


def registered_tasks() -> dict[str, Task]:
    """Every registered task by name, the built-in ones included."""
    importlib.import_module(BUILT_IN)  # registers the built-in families (once)
    return TASKS


def get_task(name: str) -> Task:
    """The registered task `name`; a ValueError names the registered ones."""
    tasks = registered_tasks()
    if name not in tasks:
        raise ValueError(f"Unknown task {name!r}. Registered tasks: {sorted(tasks)}")
    return tasks[name]


def model_family(cfg) -> str:
    """`model.family`, with "auto" resolved to the task's default family (its first)."""
    return get_task(cfg.task).families[0] if cfg.model.family == "auto" else cfg.model.family
