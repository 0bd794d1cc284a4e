"""The physician's alert book, the dashboard's alert sync and paging, and the exports,
without servers (the browser tests run them against real ones)."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from physician.alerts import AlertBook, AlertError
from physician.dashboard import views
from physician.export import fhir_bundle, readings_csv
from protocol.messages import ResultOut

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def book(tmp_path: Path) -> AlertBook:
    return AlertBook(tmp_path / "home" / "alerts.sqlite3")


def test_file_is_private_and_abnormal_alerts_open_once(book: AlertBook) -> None:
    assert stat.S_IMODE(os.stat(book.path).st_mode) == 0o600
    assert book.open_abnormal("p1", "r1", NOW)
    assert not book.open_abnormal("p1", "r1", NOW)  # a second sync opens nothing new
    assert book.open_abnormal("p2", "r2", NOW - timedelta(hours=1))
    assert [a.patient_id for a in book.open_alerts()] == ["p2", "p1"]  # oldest first
    assert book.open_counts() == {"p1": 1, "p2": 1}
    with pytest.raises(AlertError, match="time zone"):
        book.open_abnormal("p1", "r3", datetime(2026, 12, 2, 12, 0))


def test_acknowledge_keeps_history_and_refuses_twice(book: AlertBook) -> None:
    book.open_abnormal("p1", "r1", NOW)
    alert = book.open_alerts()[0]
    with pytest.raises(AlertError, match="at most 500"):
        book.acknowledge(alert.alert_id, "dr.a", "x" * 501)
    done = book.acknowledge(alert.alert_id, "dr.a", "  called  ")
    assert (done.acknowledged_by, done.note, done.is_open) == ("dr.a", "called", False)
    assert book.open_alerts() == [] and book.open_counts() == {}
    assert book.history("p1") == [done] and book.history("p2") == []
    with pytest.raises(AlertError, match=r"already acknowledged by dr\.a"):
        book.acknowledge(alert.alert_id, "dr.b")
    with pytest.raises(AlertError, match="no such alert"):
        book.acknowledge(999, "dr.a")


def test_missed_readings_one_alert_per_gap(book: AlertBook) -> None:
    last = NOW - timedelta(hours=3)
    assert not book.check_missed("p1", last, NOW)  # no period set: never
    with pytest.raises(AlertError, match=r"between 0\.25 and 720"):
        book.set_missed_after_hours("p1", 0.1)
    book.set_missed_after_hours("p1", 4)
    assert book.missed_after_hours("p1") == 4
    assert not book.check_missed("p1", last, NOW)  # 3 h < 4 h
    book.set_missed_after_hours("p1", 2)
    assert book.check_missed("p1", last, NOW)
    assert not book.check_missed("p1", last, NOW + timedelta(hours=1))  # same gap
    assert book.check_missed("p1", NOW, NOW + timedelta(hours=5))  # a new gap
    assert [a.kind for a in book.open_alerts()] == ["missed", "missed"]
    book.set_missed_after_hours("p1", None)
    assert book.missed_after_hours("p1") is None
    assert not book.check_missed("p1", NOW, NOW + timedelta(days=9))


def test_sync_cursor_looks_back_and_never_moves_backwards(book: AlertBook) -> None:
    assert book.sync_since("p1", NOW) == NOW - timedelta(days=7)
    book.mark_synced("p1", NOW)
    book.mark_synced("p1", NOW - timedelta(days=3))
    assert book.sync_since("p1", NOW) == NOW - timedelta(days=1)


def result(minutes: int, status: str = "done", bit: str | None = "AAAAzero") -> ResultOut:
    taken = NOW - timedelta(minutes=minutes)
    return ResultOut(
        reading_id=uuid.uuid4(),
        patient_id=uuid.UUID(int=1),
        taken_at=taken,
        received_at=taken,
        status=status,  # type: ignore[arg-type]
        result=bit if status == "done" else None,
    )


class FakeApi:
    """Answers results newest first in pages, as server A does (``until`` inclusive)."""

    def __init__(self, rows: list[ResultOut]) -> None:
        self.rows = sorted(rows, key=lambda r: r.taken_at, reverse=True)
        self.calls = 0

    def results(self, patient_id: str, **window: Any) -> list[ResultOut]:
        self.calls += 1
        since, until, limit = window["since"], window["until"], window["limit"]
        kept = [
            r
            for r in self.rows
            if (since is None or r.taken_at >= since) and (until is None or r.taken_at <= until)
        ]
        return kept[:limit]


def test_results_between_pages_past_a_thousand() -> None:
    rows = [result(m) for m in range(2500)] + [result(100) for _ in range(3)]  # ties
    api = FakeApi(rows)
    got = views.results_between(api, "p", None)  # type: ignore[arg-type]
    assert len(got) == len(rows) and len({r.reading_id for r in got}) == len(rows)
    assert api.calls >= 3


class FakeDecryptor:
    def verdict(self, r: ResultOut) -> str:
        if r.status == "pending":
            return "pending"
        return "abnormal" if r.result == "AAAAone1" else "normal"


def test_sync_opens_abnormal_and_missed_alerts(book: AlertBook) -> None:
    pid = str(uuid.UUID(int=1))
    rows = [result(5, bit="AAAAone1"), result(10, bit="AAAAzero"), result(1, status="pending")]
    row = views.PatientRow(pid, "Ada", True, "abnormal", NOW - timedelta(minutes=5))
    book.set_missed_after_hours(pid, 0.25)
    synced = views.sync_alerts(
        FakeApi(rows),  # type: ignore[arg-type]
        FakeDecryptor(),  # type: ignore[arg-type]
        book,
        [row],
        NOW + timedelta(hours=1),
    )
    assert synced[0].open_alerts == 2
    assert sorted(a.kind for a in book.open_alerts()) == ["abnormal", "missed"]
    # The cursor stopped at the newest *decided* reading; the pending one is fetched again.
    assert book.sync_since(pid, NOW) == NOW - timedelta(minutes=5) - timedelta(days=1)


def test_triage_puts_open_alerts_first_and_searches_labels() -> None:
    def row(label: str, alerts: int, verdict: views.Verdict = "normal") -> views.PatientRow:
        return views.PatientRow(label, label, True, verdict, None, open_alerts=alerts)

    rows = [row("bob", 0), row("Ann", 0, "abnormal"), row("carl", 2), row("anna", 0)]
    assert [r.label for r in views.triage(rows)] == ["carl", "Ann", "anna", "bob"]
    assert [r.label for r in views.triage(rows, " ANN ")] == ["Ann", "anna"]


def test_exports_carry_verdicts_and_times_only() -> None:
    taken = NOW - timedelta(hours=1)
    text = readings_csv([(taken, NOW, "abnormal"), (taken, None, "pending")])
    assert text.splitlines() == [
        "reading_taken_utc,received_utc,result",
        "2026-12-02T11:00:00+00:00,2026-12-02T12:00:00+00:00,abnormal",
        "2026-12-02T11:00:00+00:00,,pending",
    ]
    rid = str(uuid.uuid4())
    bundle = fhir_bundle(
        "p1", "Ada", [(rid, taken, NOW, "normal"), (str(uuid.uuid4()), taken, None, "invalid")]
    )
    assert len(bundle["entry"]) == 1  # an invalid reading has no interpretation to export
    observation = bundle["entry"][0]["resource"]
    assert observation["interpretation"][0]["coding"][0]["code"] == "N"
    assert Bundle.model_validate(bundle).entry is not None
    broken = {**bundle, "entry": [{"resource": {**observation, "status": None}}]}
    with pytest.raises(ValidationError):  # the validator is real: status is required
        Bundle.model_validate(broken)
