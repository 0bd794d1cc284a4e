"""The local SQLite files of the device and the physician (outbox, own history, alert
book): created 0600 from the start, opened for one transaction at a time."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


def create_private(path: Path, *schema: str) -> None:
    """Make ``path`` (0600, never chmod after writing) unless it exists, and run
    ``schema``'s ``CREATE ... IF NOT EXISTS`` statements."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    with transaction(path) as db:
        for statement in schema:
            db.execute(statement)


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection, committed on success and rolled back on error, then closed; rows
    are readable by column name."""
    with closing(sqlite3.connect(path, timeout=10)) as db, db:
        db.row_factory = sqlite3.Row
        yield db
