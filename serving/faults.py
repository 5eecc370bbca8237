"""Named crash points for fault-injection tests: `SEQLAB_FAULT=<point>` SIGKILLs the process there.

A point is a place where a crash is the most damaging (a step's temp folder
half-written, a component finished but not yet published, a trainer between
epochs, a SavedModel exported but not yet renamed to its version). The
fault-injection benchmark and the CI test kill `seqlab run` at each point and
check that a rerun finishes with the same results as a clean run. Unset,
`crash_point` costs one dictionary lookup.

Example:

>>> crash_point("transform:before_publish")  # SEQLAB_FAULT unset: returns
"""

from __future__ import annotations

import os
import signal

ENV = "SEQLAB_FAULT"


def crash_point(name: str) -> None:
    """Kills this process with SIGKILL (no cleanup, no flush) when `SEQLAB_FAULT` names `name`."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
