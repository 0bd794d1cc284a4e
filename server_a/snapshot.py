"""What server A holds, table by table, as its operator would see it.

The demo prints this next to what the physician reads, to show that A stores only
ciphertexts; reflected from the database, so a new column shows up without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, func, select

from server_a.storage import Storage


@dataclass(frozen=True)
class TableSnapshot:
    """One table: its name, how many rows it has, and its first few rows as stored."""

    name: str
    count: int
    rows: list[dict[str, Any]]


def snapshot(storage: Storage, rows_per_table: int = 2) -> list[TableSnapshot]:
    """Every table of A's database, sorted by name, with up to ``rows_per_table`` rows."""
    metadata = MetaData()
    metadata.reflect(storage.engine)
    tables = []
    with storage.engine.connect() as conn:
        for name, table in sorted(metadata.tables.items()):
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            rows = conn.execute(select(table).limit(rows_per_table)).mappings().all()
            tables.append(TableSnapshot(name, int(count), [dict(row) for row in rows]))
    return tables
