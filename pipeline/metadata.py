"""A small ML-metadata store in SQLite: runs, executions, artifacts, lineage.

Every execution of a step (ran, cached or failed) is recorded against its run;
every artifact it read or wrote is linked to it through an event, so the
question "which data and which config produced this SavedModel?" has an
answer.

Example:

>>> store = MetadataStore(":memory:")
>>> run_id = store.start_run({"name": "quickstart"})
>>> ex = store.start_execution(run_id, "example_gen", "abc123")
>>> art = store.record_artifact("example_gen", "abc123", "/tmp/a")
>>> store.link(ex, art, "output")
>>> store.finish_execution(ex, "ran", 1.5)
>>> store.lineage(art)[0]["step"]
'example_gen'
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    step TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    seconds REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    uri TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (step, fingerprint, uri)
);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
CREATE TABLE IF NOT EXISTS events (
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
    PRIMARY KEY (execution_id, artifact_id, direction)
);
"""


class MetadataStore:
    """SQLite-backed store. One connection; every write commits at once."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(runs)")}
        for column in ("pid INTEGER", "host TEXT"):  # stores written before runs recorded their process
            if column.split()[0] not in columns:
                self._db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple = ()) -> int:
        cur = self._db.execute(sql, args)
        self._db.commit()
        return int(cur.lastrowid or 0)

    def start_run(self, config: dict[str, Any]) -> int:
        return self._write(
            "INSERT INTO runs (started, status, config, pid, host) VALUES (?, 'running', ?, ?, ?)",
            (time.time(), json.dumps(config, sort_keys=True), os.getpid(), socket.gethostname()),
        )

    def mark_interrupted(self) -> list[int]:
        """Marks every run still `running`, and its running executions, `interrupted`; returns their ids.

        Call it only while holding the root lock: then no other run is alive,
        so a run that still says `running` is one whose process died.
        """
        ids = [int(r["id"]) for r in self._db.execute("SELECT id FROM runs WHERE status = 'running'")]
        for run_id in ids:
            self._db.execute(
                "UPDATE executions SET status = 'interrupted', error = 'the process ended without finishing'"
                " WHERE run_id = ? AND status = 'running'", (run_id,))
            self._db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
        self._db.commit()
        return ids

    def known_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The SHA-256 recorded for a file with this path, size and mtime, if any."""
        row = self._db.execute(
            "SELECT sha256 FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
            (path, size, mtime_ns)).fetchone()
        return str(row["sha256"]) if row else None

    def save_digest(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        self._db.execute("DELETE FROM file_digests WHERE path = ?", (path,))
        self._write("INSERT INTO file_digests (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                    (path, size, mtime_ns, sha256))

    def finish_run(self, run_id: int, status: str) -> None:
        self._write(
            "UPDATE runs SET finished = ?, status = ? WHERE id = ?", (time.time(), status, run_id)
        )

    def start_execution(self, run_id: int, step: str, fingerprint: str) -> int:
        return self._write(
            "INSERT INTO executions (run_id, step, fingerprint, status, started)"
            " VALUES (?, ?, ?, 'running', ?)",
            (run_id, step, fingerprint, time.time()),
        )

    def finish_execution(
        self, execution_id: int, status: str, seconds: float, error: str | None = None
    ) -> None:
        self._write(
            "UPDATE executions SET status = ?, seconds = ?, error = ? WHERE id = ?",
            (status, seconds, error, execution_id),
        )

    def record_artifact(self, step: str, fingerprint: str, uri: str) -> int:
        row = self._db.execute(
            "SELECT id FROM artifacts WHERE step = ? AND fingerprint = ? AND uri = ?",
            (step, fingerprint, uri),
        ).fetchone()
        if row:
            return int(row["id"])
        return self._write(
            "INSERT INTO artifacts (step, fingerprint, uri, created) VALUES (?, ?, ?, ?)",
            (step, fingerprint, uri, time.time()),
        )

    def link(self, execution_id: int, artifact_id: int, direction: str) -> None:
        self._write(
            "INSERT OR IGNORE INTO events (execution_id, artifact_id, direction) VALUES (?, ?, ?)",
            (execution_id, artifact_id, direction),
        )

    def executions(self, run_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM executions WHERE run_id = ? ORDER BY id", (run_id,))]

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM runs ORDER BY id")]

    def lineage(self, artifact_id: int) -> list[dict[str, Any]]:
        """The chain of steps and artifacts upstream of `artifact_id`, nearest first."""
        chain: list[dict[str, Any]] = []
        frontier = [artifact_id]
        seen: set[int] = set()
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.add(current)
            producer = self._db.execute(
                "SELECT e.id, e.step, e.fingerprint FROM executions e"
                " JOIN events ev ON ev.execution_id = e.id"
                " WHERE ev.artifact_id = ? AND ev.direction = 'output'"
                " ORDER BY e.id DESC LIMIT 1",
                (current,),
            ).fetchone()
            if producer is None:
                continue
            inputs = [
                int(r["artifact_id"])
                for r in self._db.execute(
                    "SELECT artifact_id FROM events WHERE execution_id = ? AND direction = 'input'",
                    (producer["id"],),
                ).fetchall()
            ]
            chain.append(
                {"artifact": current, "step": producer["step"],
                 "fingerprint": producer["fingerprint"], "inputs": inputs}
            )
            frontier.extend(inputs)
        return chain
