"""What the dashboard shows, computed in the dashboard process from server A's ciphertexts.

Result bits and tallies are decrypted here with sk_D; the browser receives only the
verdicts ("normal", "abnormal", "pending", ...), the patients' labels and times. There is
nothing else to show: the physician's key opens nothing but those bits.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from client.api import ServerAClient
from physician.alerts import Alert, AlertBook
from physician.keys import PhysicianKeyPair
from protocol.messages import ResultOut

Verdict = Literal["normal", "abnormal", "pending", "invalid", "none"]

VERDICT_TEXT: dict[str, str] = {
    "normal": "normal",
    "abnormal": "abnormal",
    "pending": "pending",
    "invalid": "invalid reading",
    "none": "no readings yet",
}
HISTORY_LIMIT = 500
TALLY_WINDOWS: tuple[tuple[str, timedelta | None], ...] = (
    ("last 24 hours", timedelta(hours=24)),
    ("last 7 days", timedelta(days=7)),
    ("all time", None),
)
_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class PatientRow:
    """A patient in the list: their latest reading's verdict."""

    patient_id: str
    label: str
    has_range: bool
    verdict: Verdict
    taken_at: datetime | None
    invalid_readings: int = 0
    open_alerts: int = 0
    recent_abnormal: tuple[int, int] | None = None  # (last 24 h, last 7 days), decrypted


@dataclass(frozen=True)
class AlertRow:
    """An alert with its patient's label, as the inbox and history show it."""

    alert: Alert
    label: str

    @property
    def what(self) -> str:
        return self.alert.description


@dataclass(frozen=True)
class Reading:
    """One reading in a patient's history."""

    taken_at: datetime
    verdict: Verdict
    received_at: datetime | None = None


@dataclass(frozen=True)
class TallyRow:
    """Abnormal readings among the decided ones in a window (from A's homomorphic tally)."""

    window: str
    decided: int
    abnormal: int


def format_time(moment: datetime | None) -> str:
    """A time as the physician reads it: local time of this machine, with the zone."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class ResultDecryptor:
    """Turns A's results into verdicts with sk_D, remembering bits already decrypted."""

    def __init__(self, keys: PhysicianKeyPair) -> None:
        self._keys = keys
        self._bits: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def verdict(self, result: ResultOut | None) -> Verdict:
        """The verdict of one result (None: the patient has no reading yet).

        Raises:
            ResultDecodeError: a ``done`` result that is not a bit under pk_D.
        """
        if result is None:
            return "none"
        if result.status == "pending":
            return "pending"
        if result.status != "done" or result.result is None:
            return "invalid"
        digest = hashlib.sha256(result.result.encode("ascii")).digest()
        with self._lock:
            cached = self._bits.get(digest)
        if cached is None:
            cached = self._keys.decrypt_bit(result.result)
            with self._lock:
                if len(self._bits) >= _CACHE_LIMIT:
                    self._bits.clear()
                self._bits[digest] = cached
        return "abnormal" if cached else "normal"

    def tally(self, ciphertext: str | None, decided: int) -> int:
        """Decrypt A's Enc_pkD(sum of bits) over ``decided`` readings (None: no reading)."""
        return 0 if ciphertext is None else self._keys.decrypt_count(ciphertext, decided)


def patient_rows(api: ServerAClient, decryptor: ResultDecryptor) -> list[PatientRow]:
    """The physician's patients with their latest verdict, by label."""
    rows = [
        PatientRow(
            patient_id=str(p.patient_id),
            label=p.label,
            has_range=p.has_range,
            verdict=decryptor.verdict(p.latest),
            taken_at=None if p.latest is None else p.latest.taken_at,
            invalid_readings=p.invalid_readings,
        )
        for p in api.list_patients()
    ]
    return sorted(rows, key=lambda row: (row.label.casefold(), row.patient_id))


PAGE = 1000  # server A's largest page of results


def results_between(
    api: ServerAClient, patient_id: str, since: datetime | None, until: datetime | None = None
) -> list[ResultOut]:
    """Every result of the patient taken in [since, until], newest first, page by page
    (A answers at most 1000 at a time; a page's oldest time starts the next page)."""
    seen: dict[str, ResultOut] = {}
    while True:
        page = api.results(patient_id, since=since, until=until, limit=PAGE)
        fresh = [r for r in page if str(r.reading_id) not in seen]
        seen.update((str(r.reading_id), r) for r in fresh)
        if len(page) < PAGE or not fresh:
            return sorted(seen.values(), key=lambda r: (r.taken_at, r.received_at), reverse=True)
        until = min(r.taken_at for r in page)


def sync_alerts(
    api: ServerAClient,
    decryptor: ResultDecryptor,
    book: AlertBook,
    rows: list[PatientRow],
    now: datetime,
) -> list[PatientRow]:
    """Open the alerts of abnormal readings decided since the last sync and of patients
    silent past their period; returns the rows with their open-alert counts.

    Runs in this process on results A already serves to the physician; A sees the same
    result requests whatever the bits are, and learns nothing about the alerts.
    """
    for row in rows:
        newest: datetime | None = None
        for result in results_between(api, row.patient_id, book.sync_since(row.patient_id, now)):
            verdict = decryptor.verdict(result)
            if verdict == "pending":
                continue
            newest = result.taken_at if newest is None else max(newest, result.taken_at)
            if verdict == "abnormal":
                book.open_abnormal(row.patient_id, str(result.reading_id), result.taken_at)
        if newest is not None:
            book.mark_synced(row.patient_id, newest)
        book.check_missed(row.patient_id, row.taken_at, now)
    counts = book.open_counts()
    return [replace(row, open_alerts=counts.get(row.patient_id, 0)) for row in rows]


def with_recent_counts(
    api: ServerAClient, decryptor: ResultDecryptor, rows: list[PatientRow], now: datetime
) -> list[PatientRow]:
    """Each row with its abnormal count over the last 24 hours and 7 days, from A's
    encrypted tallies (A computes both for every patient whatever the bits are)."""

    def abnormal_since(patient_id: str, span: timedelta) -> int:
        answer = api.tally(patient_id, since=now - span)
        return decryptor.tally(answer.tally, answer.count)

    return [
        replace(
            row,
            recent_abnormal=(
                abnormal_since(row.patient_id, timedelta(hours=24)),
                abnormal_since(row.patient_id, timedelta(days=7)),
            ),
        )
        for row in rows
    ]


def triage(rows: list[PatientRow], query: str = "") -> list[PatientRow]:
    """Patients whose label contains ``query`` (any case), open alerts first, then those
    whose latest reading is abnormal, then by label."""
    needle = query.strip().casefold()
    kept = [row for row in rows if needle in row.label.casefold()]
    return sorted(
        kept,
        key=lambda r: (-r.open_alerts, r.verdict != "abnormal", r.label.casefold(), r.patient_id),
    )


def alert_rows(alerts: list[Alert], rows: list[PatientRow]) -> list[AlertRow]:
    """Alerts with their patients' labels (a patient no longer listed: "unknown")."""
    labels = {row.patient_id: row.label for row in rows}
    return [AlertRow(a, labels.get(a.patient_id, "unknown patient")) for a in alerts]


def find_patient(rows: list[PatientRow], patient_id: str) -> PatientRow | None:
    """The row of one patient, if they are among the physician's."""
    return next((row for row in rows if row.patient_id == patient_id), None)


def history(api: ServerAClient, decryptor: ResultDecryptor, patient_id: str) -> list[Reading]:
    """A patient's readings, newest first, each with its verdict."""
    return [
        Reading(r.taken_at, decryptor.verdict(r), r.received_at)
        for r in api.results(patient_id, limit=HISTORY_LIMIT)
    ]


def tallies(
    api: ServerAClient, decryptor: ResultDecryptor, patient_id: str, now: datetime
) -> list[TallyRow]:
    """Abnormal counts over the last 24 h, 7 days and all time, from A's encrypted tallies."""
    rows = []
    for name, span in TALLY_WINDOWS:
        answer = api.tally(patient_id, since=None if span is None else now - span)
        rows.append(TallyRow(name, answer.count, decryptor.tally(answer.tally, answer.count)))
    return rows
