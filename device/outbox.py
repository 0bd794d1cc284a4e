"""The device's durable outbox: a reading made while server A is away is sent later, once,
in order.

Every reading is written here (SQLite, 0600, beside the device file) *before* it is sent,
and removed when A has stored it, so a crash, a dead network or a stopped A loses
nothing. It holds what would travel anyway: the encrypted body (ciphertexts, the reading
id, the time), never a heart rate or a score. Sending is idempotent: a reading id A has
already stored is answered 200 with the same receipt, so a body sent twice (A stored it,
the answer was lost) is stored once.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from client.private_db import create_private, transaction

_SCHEMA = """CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
)"""


def outbox_path(config_path: Path) -> Path:
    """Where the outbox of the device file ``config_path`` lives."""
    return config_path.with_name(config_path.name + ".outbox.sqlite3")


class Outbox:
    """Readings waiting for server A, oldest first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_private(path, _SCHEMA)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def add(self, body: dict[str, Any]) -> None:
        """Keep ``body`` until A has stored it (a second add of one id is a no-op)."""
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO outbox (reading_id, body) VALUES (?, ?)",
                (str(body["reading_id"]), json.dumps(body)),
            )

    def waiting(self) -> list[dict[str, Any]]:
        """Every queued body, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    def remove(self, reading_id: str) -> None:
        """A stored the reading (or refused it for good): forget it."""
        with self._db() as db:
            db.execute("DELETE FROM outbox WHERE reading_id = ?", (reading_id,))

    def __len__(self) -> int:
        with self._db() as db:
            count: int = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return count
