"""Write-then-rename helpers: a reader sees the old file or the new one, never half.

Files are created with the permissions `open()` would give (0666 less the
umask), not `mkstemp`'s 0600, so a model server running as another user can
read what is published.

Example:

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_json(d / "a.json", {"x": 1})
>>> (d / "a.json").read_text().strip()
'{\\n  "x": 1\\n}'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any


def default_file_mode() -> int:
    """0666 less the process umask: what `open(path, "w")` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | Path, text: str) -> None:
    """Writes `text` to a temporary file beside `path`, then renames it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def publish_dir(tmp_dir: str | Path, final_dir: str | Path) -> None:
    """Renames a finished `tmp_dir` to `final_dir`, replacing an older one atomically."""
    tmp_dir, final_dir = Path(tmp_dir), Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    if final_dir.exists():
        trash = final_dir.with_name(f".{final_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final_dir, trash)
        os.rename(tmp_dir, final_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp_dir, final_dir)
