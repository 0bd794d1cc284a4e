"""The patient's own history: every reading this device made, with the heart rate, score
and rhythm index it measured, kept on the device only (SQLite, 0600, beside the device
file).

These are exactly the values nobody else may see, so they never leave this file: what
goes to server A is the encrypted body in the outbox (:mod:`device.outbox`). The patient
can read their own history (``hrmon device history``, the device page); the device does
not know the physician's verdict and shows none.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.private_db import create_private, transaction

if TYPE_CHECKING:
    from client.encrypt import EncodedReading
    from device.analysis import Analysis

_COLUMNS = """(
    reading_id TEXT PRIMARY KEY,
    taken_at TEXT NOT NULL,
    heart_rate_bpm REAL,
    score REAL,
    irregularity REAL,
    kind TEXT NOT NULL
)"""
_SCHEMA = f"CREATE TABLE IF NOT EXISTS history {_COLUMNS}"
# A history made before score-only readings had heart_rate_bpm NOT NULL: rebuilt once,
# in one transaction, keeping every row (SQLite cannot drop a NOT NULL in place).
_ALLOW_NO_RATE = (
    f"CREATE TABLE history_new {_COLUMNS}",
    "INSERT INTO history_new SELECT * FROM history",
    "DROP TABLE history",
    "ALTER TABLE history_new RENAME TO history",
)


def history_path(config_path: Path) -> Path:
    """Where the history of the device file ``config_path`` lives."""
    return config_path.with_name(config_path.name + ".history.sqlite3")


@dataclass(frozen=True)
class OwnReading:
    """One reading as this device measured it."""

    reading_id: str
    taken_at: datetime
    heart_rate_bpm: float | None
    """None for a score-only reading (too short for a heart rate, or a clean heart
    recording whose rate could not be read)."""
    score: float | None
    irregularity: float | None
    kind: str


def own_reading(body: dict[str, Any], reading: EncodedReading, result: Analysis) -> OwnReading:
    """The values of a sent reading as the patient's history keeps them (as encoded, so
    the history shows exactly what was encrypted)."""
    return OwnReading(
        reading_id=str(body["reading_id"]),
        taken_at=datetime.fromisoformat(str(body["taken_at"])),
        heart_rate_bpm=None if reading.rate_missing else reading.heart_rate / 10,
        score=reading.score / 10_000 if result.kind == "heart_sound" else None,
        irregularity=None if result.irregularity is None else reading.irregularity / 10_000,
        kind=result.kind,
    )


class DeviceHistory:
    """The patient's readings, newest first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_private(path, _SCHEMA)
        with self._db() as db:
            columns = db.execute("PRAGMA table_info(history)").fetchall()
            if any(c["name"] == "heart_rate_bpm" and c["notnull"] for c in columns):
                for statement in _ALLOW_NO_RATE:
                    db.execute(statement)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def add(self, reading: OwnReading) -> None:
        """Keep one reading (a second add of one id is a no-op)."""
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO history VALUES (?, ?, ?, ?, ?, ?)",
                (
                    reading.reading_id,
                    reading.taken_at.isoformat(),
                    reading.heart_rate_bpm,
                    reading.score,
                    reading.irregularity,
                    reading.kind,
                ),
            )

    def recent(self, limit: int = 50) -> list[OwnReading]:
        """The newest ``limit`` readings."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM history ORDER BY taken_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            OwnReading(row[0], datetime.fromisoformat(row[1]), row[2], row[3], row[4], row[5])
            for row in rows
        ]
