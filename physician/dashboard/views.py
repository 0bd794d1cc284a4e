"""What the dashboard shows, computed in the dashboard process from server A's ciphertexts.

Result bits and tallies are decrypted here with sk_D; the browser receives only the
verdicts ("normal", "abnormal", "pending", ...), the patients' labels and times. There is
nothing else to show: the physician's key opens nothing but those bits.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from client.api import ServerAClient
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


@dataclass(frozen=True)
class Reading:
    """One reading in a patient's history."""

    taken_at: datetime
    verdict: Verdict


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


def find_patient(rows: list[PatientRow], patient_id: str) -> PatientRow | None:
    """The row of one patient, if they are among the physician's."""
    return next((row for row in rows if row.patient_id == patient_id), None)


def history(api: ServerAClient, decryptor: ResultDecryptor, patient_id: str) -> list[Reading]:
    """A patient's readings, newest first, each with its verdict."""
    return [
        Reading(r.taken_at, decryptor.verdict(r))
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
