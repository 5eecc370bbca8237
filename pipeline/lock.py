"""One writer per run root: an OS file lock (filelock) held for the whole run.

`seqlab run` takes `<root>/.lock` (an `fcntl`/`LockFileEx` lock, which the kernel drops however the holder
dies) before it touches the root; `<root>/.lock.holder.json` names the holder for the second run's error. In
a `TF_CONFIG` cluster only the chief takes it. The README says the rest ("One run per root").

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> with RootLock(root):
...     holder(root)["pid"] == os.getpid()
True
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import filelock

from serving import atomic

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder.json"


class RootBusyError(RuntimeError):
    """Another run holds the root's lock."""


def cluster_role(env: dict[str, str] | None = None) -> tuple[str, int] | None:
    """(task type, index) from `TF_CONFIG`, or None outside a cluster.

    Example:

    >>> cluster_role({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'})
    ('worker', 1)
    """
    raw = (env if env is not None else os.environ).get("TF_CONFIG", "")
    if not raw.strip():
        return None
    try:
        spec = json.loads(raw)
        task = spec.get("task") or {}
        return str(task.get("type", "")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"TF_CONFIG is not valid JSON with a task type and index. Received: {raw[:200]!r}")


def is_chief(env: dict[str, str] | None = None) -> bool:
    """True outside a cluster, for the chief, and for worker 0 of a cluster without a chief (TF's rule)."""
    role = cluster_role(env)
    if role is None:
        return True
    kind, index = role
    if kind == "chief":
        return True
    spec = json.loads((env if env is not None else os.environ)["TF_CONFIG"])
    has_chief = bool((spec.get("cluster") or {}).get("chief"))
    return kind == "worker" and index == 0 and not has_chief


def _command_line() -> str:
    """This process's command, as a user would type it: `seqlab run ...`, or `python ...` for scripts."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if program in ("seqlab", "cli.py"):
        program = "seqlab"
    elif program in ("", "-c", "-m"):
        program = f"python {program}".strip()
    return " ".join([program, *sys.argv[1:]])


def holder(root: str | Path) -> dict[str, Any] | None:
    """What the holder wrote about itself, or None when nobody has written it yet."""
    try:
        return json.loads((Path(root) / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return None


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process (it has not said which yet)"
    return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} "
            f"({info.get('command')})")


class RootLock:
    """Holds `<root>/.lock` for one run; a no-op for non-chief members of a TF_CONFIG cluster.

    Args:
        root: the run root.
        wait: seconds to wait for a busy root (0: fail at once; None: wait forever).
    """

    def __init__(self, root: str | Path, wait: float | None = 0.0):
        self.root = Path(root)
        self.wait = wait
        self.chief = is_chief()
        self._lock = filelock.FileLock(str(self.root / LOCK_FILE))

    def acquire(self) -> None:
        if not self.chief:
            logger.info("TF_CONFIG member %s: the chief holds the root lock", cluster_role())
            return
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            if self.wait == 0:
                raise RootBusyError(
                    f"Run root {self.root} is in use by {_describe(holder(self.root))}. Wait for it to finish, "
                    "use another --root, or pass --wait to start when it is done."
                ) from None
            logger.info("Run root %s is in use by %s; waiting", self.root, _describe(holder(self.root)))
            try:
                self._lock.acquire(timeout=-1 if self.wait is None else self.wait)
            except filelock.Timeout:
                raise RootBusyError(
                    f"Run root {self.root} was still in use by {_describe(holder(self.root))} after "
                    f"{self.wait:g}s of waiting."
                ) from None
        atomic.write_json(self.root / HOLDER_FILE, {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": _command_line(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        })

    def release(self) -> None:
        if self.chief and self._lock.is_locked:
            (self.root / HOLDER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> "RootLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
