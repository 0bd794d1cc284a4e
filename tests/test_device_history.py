"""The patient's own history on the device: older files keep every row."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from device.history import DeviceHistory, OwnReading


def test_a_history_from_before_score_only_readings_is_rebuilt_keeping_every_row(
    tmp_path: Path,
) -> None:
    """Older histories had heart_rate_bpm NOT NULL; opening one rebuilds the table once,
    so a score-only reading (no rate) can be kept, and no earlier row is lost."""
    path = tmp_path / "device.json.history.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE history (reading_id TEXT PRIMARY KEY, taken_at TEXT NOT NULL, "
            "heart_rate_bpm REAL NOT NULL, score REAL, irregularity REAL, kind TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO history VALUES "
            "('old', '2026-01-01T00:00:00+00:00', 71.5, 0.2, NULL, 'heart_sound')"
        )
    db.close()
    history = DeviceHistory(path)
    history.add(OwnReading("new", datetime(2026, 2, 1, tzinfo=UTC), None, 0.7, None, "heart_sound"))
    DeviceHistory(path)  # opening again is a no-op
    rows = {r.reading_id: r.heart_rate_bpm for r in history.recent()}
    assert rows == {"old": 71.5, "new": None}
