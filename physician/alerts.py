"""The physician's alert book: abnormal readings and missed readings to acknowledge.

Kept on the physician's machine (SQLite, 0600, in the physician's home), never on server
A: which readings were abnormal is exactly what A must not learn (docs/design.md,
"Alerts stay with the physician"). An alert opened here, an acknowledgement and its note
would each tell A that a reading decrypted to "abnormal", so none of them travels.

Two kinds:

* ``abnormal``: a decided reading whose bit decrypted to 1; one per reading id, so
  syncing the same results twice opens nothing new.
* ``missed``: a patient sent nothing for longer than the period the physician set; one
  per gap (keyed by the last reading's time), so a new gap after new readings opens a
  new alert.

An alert stays open until acknowledged (who, when, an optional note), and then stays in
the history.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from client.private_db import create_private, transaction

AlertKind = Literal["abnormal", "missed"]
KIND_TEXT: dict[str, str] = {"abnormal": "Abnormal reading", "missed": "No readings received"}

FILE_NAME = "alerts.sqlite3"
NOTE_MAX_CHARS = 500
MISSED_HOURS_LIMITS = (0.25, 24.0 * 30)  # 15 minutes .. 30 days
DEFAULT_SYNC_LOOKBACK = timedelta(days=7)
LATE_DECISION_MARGIN = timedelta(days=1)  # a reading decided this long after another

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alerts (
        alert_id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('abnormal', 'missed')),
        source_key TEXT NOT NULL UNIQUE,
        occurred_at TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        acknowledged_by TEXT,
        acknowledged_at TEXT,
        note TEXT,
        notified_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts (acknowledged_at, opened_at)",
    """CREATE TABLE IF NOT EXISTS patient_watch (
        patient_id TEXT PRIMARY KEY,
        missed_after_hours REAL,
        watched_since TEXT NOT NULL,
        synced_through TEXT
    )""",
)


class AlertError(ValueError):
    """A request the alert book refuses (the message names what is wrong)."""


@dataclass(frozen=True)
class Alert:
    """One alert; ``acknowledged_at`` is None while it is open."""

    alert_id: int
    patient_id: str
    kind: AlertKind
    occurred_at: datetime
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    @property
    def description(self) -> str:
        """What happened, in words (the inbox, the report and the notifications)."""
        return KIND_TEXT[self.kind]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise AlertError("times in the alert book must carry a time zone")
    return moment.astimezone(UTC).isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        alert_id=int(row["alert_id"]),
        patient_id=str(row["patient_id"]),
        kind=row["kind"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=_time(row["acknowledged_at"]),
        note=row["note"],
    )


class AlertBook:
    """Open and acknowledged alerts, and each patient's missed-reading period."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_private(path, *_SCHEMA)

    @classmethod
    def in_home(cls, home: Path) -> AlertBook:
        return cls(home / FILE_NAME)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    # -- opening ------------------------------------------------------------------------

    def open_abnormal(self, patient_id: str, reading_id: str, taken_at: datetime) -> bool:
        """Open the alert of an abnormal reading; False if it was opened before."""
        return self._open(patient_id, "abnormal", f"reading:{reading_id}", taken_at)

    def _open(self, patient_id: str, kind: AlertKind, key: str, occurred_at: datetime) -> bool:
        with self._db() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO alerts (patient_id, kind, source_key, occurred_at,"
                " opened_at) VALUES (?, ?, ?, ?, ?)",
                (patient_id, kind, key, _iso(occurred_at), _iso(datetime.now(UTC))),
            )
            return cursor.rowcount == 1

    def check_missed(
        self, patient_id: str, last_reading_at: datetime | None, now: datetime
    ) -> bool:
        """Open a missed-reading alert if the patient has been silent past their period.

        The silence starts at the last reading, or when the patient was first watched if
        they never sent one. Returns whether an alert was opened now.
        """
        watch = self._watch(patient_id)
        if watch is None or watch["missed_after_hours"] is None:
            return False
        start = last_reading_at or datetime.fromisoformat(watch["watched_since"])
        if now - start < timedelta(hours=float(watch["missed_after_hours"])):
            return False
        return self._open(patient_id, "missed", f"missed:{patient_id}:{_iso(start)}", start)

    # -- settings and sync cursor ---------------------------------------------------------

    def _watch(self, patient_id: str) -> sqlite3.Row | None:
        with self._db() as db:
            row: sqlite3.Row | None = db.execute(
                "SELECT * FROM patient_watch WHERE patient_id = ?", (patient_id,)
            ).fetchone()
        return row

    def _ensure_watch(self, db: sqlite3.Connection, patient_id: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO patient_watch (patient_id, watched_since) VALUES (?, ?)",
            (patient_id, _iso(datetime.now(UTC))),
        )

    def missed_after_hours(self, patient_id: str) -> float | None:
        """The patient's missed-reading period in hours (None: no such alert)."""
        watch = self._watch(patient_id)
        return (
            None
            if watch is None or watch["missed_after_hours"] is None
            else float(watch["missed_after_hours"])
        )

    def set_missed_after_hours(self, patient_id: str, hours: float | None) -> None:
        """Set (or with None, turn off) the patient's missed-reading period.

        Raises:
            AlertError: a period outside 15 minutes .. 30 days.
        """
        low, high = MISSED_HOURS_LIMITS
        if hours is not None and not low <= hours <= high:
            raise AlertError(
                f"the missed-reading period must be between {low:g} and {high:g} hours"
            )
        with self._db() as db:
            self._ensure_watch(db, patient_id)
            db.execute(
                "UPDATE patient_watch SET missed_after_hours = ? WHERE patient_id = ?",
                (hours, patient_id),
            )

    def sync_since(self, patient_id: str, now: datetime) -> datetime:
        """From when to fetch the patient's results: a day before the newest one already
        seen (readings can be decided late), or a week back the first time."""
        watch = self._watch(patient_id)
        through = None if watch is None else _time(watch["synced_through"])
        return (now - DEFAULT_SYNC_LOOKBACK) if through is None else through - LATE_DECISION_MARGIN

    def mark_synced(self, patient_id: str, through: datetime) -> None:
        """Remember the newest decided reading seen (never moves backwards)."""
        with self._db() as db:
            self._ensure_watch(db, patient_id)
            db.execute(
                "UPDATE patient_watch SET synced_through = ? WHERE patient_id = ?"
                " AND (synced_through IS NULL OR synced_through < ?)",
                (_iso(through), patient_id, _iso(through)),
            )

    # -- reading and acknowledging -------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        """Every open alert, oldest event first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM alerts WHERE acknowledged_at IS NULL ORDER BY occurred_at, alert_id"
            ).fetchall()
        return [_alert(row) for row in rows]

    def open_total(self) -> int:
        """How many alerts are open, all patients together."""
        return sum(self.open_counts().values())

    def open_counts(self) -> dict[str, int]:
        """Open alerts per patient id."""
        with self._db() as db:
            rows = db.execute(
                "SELECT patient_id, COUNT(*) FROM alerts WHERE acknowledged_at IS NULL"
                " GROUP BY patient_id"
            ).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def history(self, patient_id: str | None = None, limit: int = 200) -> list[Alert]:
        """Alerts, open or acknowledged, newest event first (one patient's, or all)."""
        with self._db() as db:  # ``? IS NULL`` keeps one fixed statement for both cases
            rows = db.execute(
                "SELECT * FROM alerts WHERE (? IS NULL OR patient_id = ?)"
                " ORDER BY occurred_at DESC, alert_id DESC LIMIT ?",
                (patient_id, patient_id, limit),
            ).fetchall()
        return [_alert(row) for row in rows]

    def unnotified(self) -> list[Alert]:
        """Open alerts no notification went out for yet, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM alerts WHERE acknowledged_at IS NULL AND notified_at IS NULL"
                " ORDER BY occurred_at, alert_id"
            ).fetchall()
        return [_alert(row) for row in rows]

    def mark_notified(self, alert_id: int) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE alerts SET notified_at = ? WHERE alert_id = ?",
                (_iso(datetime.now(UTC)), alert_id),
            )

    def acknowledge(self, alert_id: int, who: str, note: str = "") -> Alert:
        """Acknowledge an open alert.

        Raises:
            AlertError: no such alert, already acknowledged, or a note over 500 characters.
        """
        note = note.strip()
        if len(note) > NOTE_MAX_CHARS:
            raise AlertError(f"the note is {len(note)} characters; at most {NOTE_MAX_CHARS}")
        with self._db() as db:
            cursor = db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ?, note = ?"
                " WHERE alert_id = ? AND acknowledged_at IS NULL",
                (who, _iso(datetime.now(UTC)), note or None, alert_id),
            )
            row = db.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertError("there is no such alert")
        if cursor.rowcount == 0:
            raise AlertError(f"this alert was already acknowledged by {row['acknowledged_by']}")
        return _alert(row)
