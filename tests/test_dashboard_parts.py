"""The dashboard's and device page's pure parts, without a browser: chart bins, range form
checks, sessions, the loopback guard, and the live relay against a mock server A."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from client.errors import ConfigError, InputError
from client.web.basics import check_loopback
from device.page import parse_window, shorten, shown_body
from physician.alerts import AlertBook
from physician.dashboard.chart import abnormal_chart, bin_counts, choose_bin
from physician.dashboard.live import LiveRelay
from physician.dashboard.routes import parse_range_form
from physician.dashboard.sessions import SessionStore
from physician.dashboard.views import Reading, ResultDecryptor
from physician.keys import PhysicianKeyPair
from protocol.ciphertext import encode_ciphertext
from protocol.paillier import encrypt
from tests.conftest import physician_key

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_chart_bins_count_abnormal_and_normal_per_bin() -> None:
    readings = [
        Reading(T0, "abnormal"),
        Reading(T0 + timedelta(minutes=30), "normal"),
        Reading(T0 + timedelta(hours=20, minutes=10), "abnormal"),
        Reading(T0 + timedelta(hours=22), "pending"),  # not decided: not charted
    ]
    size, bins = bin_counts(readings)
    assert size == timedelta(hours=1)
    assert len(bins) == 21 and bins[0][0] == T0
    assert [(a, n) for _, a, n in bins] == [(1, 1)] + [(0, 0)] * 19 + [(1, 0)]
    svg = str(abnormal_chart(readings))
    assert svg.count('class="bar-abnormal"') == 2 and svg.count('class="bar-normal"') == 1
    assert "2 abnormal of 3 decided readings" in svg


def test_a_stray_timestamp_does_not_stretch_the_chart_and_ticks_are_dated() -> None:
    """One reading from a device clock years off is left out of the chart (and said to
    be), the rest keep hourly bins; ticks carry the date, and the year when not this one."""
    readings = [Reading(T0 + timedelta(hours=h), "normal") for h in range(12)]
    readings.append(Reading(T0 - timedelta(days=3 * 365), "abnormal"))
    size, bins = bin_counts(readings)
    assert size == timedelta(hours=1) and bins[0][0] == T0
    assert sum(a + n for _, a, n in bins) == 12
    svg = str(abnormal_chart(readings))
    assert "1 earlier reading not charted" in svg
    assert "0 abnormal of 12 decided readings" in svg
    assert f">{T0.astimezone():%d %b %H:%M}<" in svg  # the first tick carries the date
    old = [Reading(datetime(2024, 5, 1, h, tzinfo=UTC), "normal") for h in range(6)]
    assert "May 2024" in str(abnormal_chart(old))  # another year: the year is shown
    close = [Reading(T0, "normal"), Reading(T0 + timedelta(days=2), "abnormal")]
    assert sum(a + n for _, a, n in bin_counts(close)[1]) == 2  # nothing stray: all kept


def test_chart_bin_size_grows_with_the_span() -> None:
    assert choose_bin(T0, T0 + timedelta(minutes=10)) == timedelta(minutes=1)
    assert choose_bin(T0, T0 + timedelta(days=3)) == timedelta(hours=6)
    assert choose_bin(T0, T0 + timedelta(days=60)) == timedelta(days=7)
    assert "No decided readings" in str(abnormal_chart([Reading(T0, "pending")]))


@pytest.mark.parametrize(
    ("low", "high", "threshold", "irregularity", "field", "words"),
    [
        ("abc", "100", "0.5", "0.15", "low", "must be a number"),
        ("10", "100", "0.5", "0.15", "low", "between 20 and 300"),
        ("60", "400", "0.5", "0.15", "high", "between 20 and 300"),
        ("90", "80", "0.5", "0.15", "high", "above the lowest"),
        ("60", "100", "0", "0.15", "threshold", "above 0"),
        ("60", "100", "nan", "0.15", "threshold", "must be a number"),
        ("60", "100", "0.5", "0", "irregularity", "above 0"),
        ("60", "100", "0.5", "1.2", "irregularity", "at most 1"),
        ("60", "100", "0.5", "", "irregularity", "must be a number"),
    ],
)
def test_range_form_names_the_wrong_field(
    low: str, high: str, threshold: str, irregularity: str, field: str, words: str
) -> None:
    errors, _ = parse_range_form(low, high, threshold, irregularity)
    assert list(errors) == [field] and words in errors[field]


def test_range_form_accepts_a_comma_decimal() -> None:
    assert parse_range_form("50,5", "110", "0.5", "0,2") == ({}, [50.5, 110.0, 0.5, 0.2])


def test_sign_in_replaces_the_session_and_idle_sessions_expire() -> None:
    store = SessionStore(idle_timeout_s=0.05)
    anonymous = store.new()
    signed = store.sign_in(anonymous, "dr", "token")
    assert store.get(anonymous.session_id) is None  # a planted id is worthless
    assert signed.session_id != anonymous.session_id
    assert signed.csrf_token != anonymous.csrf_token
    assert store.get(signed.session_id) is signed and "token" not in repr(signed)
    time.sleep(0.1)
    assert store.get(signed.session_id) is None


def test_only_loopback_addresses_are_served() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        check_loopback(host)
    for host in ("0.0.0.0", "192.168.1.10", "example.org"):
        with pytest.raises(ConfigError, match="not a loopback"):
            check_loopback(host)


def test_device_page_shows_ciphertexts_shortened() -> None:
    body = {"reading_id": "r", "key_id": "k", "taken_at": "t", "heart_rate": "A" * 344,
            "score": "B" * 344, "irregularity": "C" * 344}  # fmt: skip
    shown = shown_body(body)
    assert shown["heart_rate"] == "A" * 32 + "… (344 characters)"
    assert shown["irregularity"] == "C" * 32 + "… (344 characters)"
    assert shown["reading_id"] == "r" and shorten("short") == "short"
    assert parse_window("7.5") == 7.5
    for bad in ("x", "1", "120"):
        with pytest.raises(InputError, match="Window length"):
            parse_window(bad)


READING_ID = "6f0c3b1e-8d2a-4c5e-9b7f-1a2b3c4d5e6f"
PATIENT_ID = "2b9d7e4f-1c3a-4e5b-8f6d-7a8b9c0d1e2f"


def _result(pair: PhysicianKeyPair, bit: int) -> dict[str, object]:
    public_key = pair.public_key
    return {
        "reading_id": READING_ID,
        "patient_id": PATIENT_ID,
        "taken_at": "2026-03-01T12:00:00+00:00",
        "received_at": "2026-03-01T12:00:01+00:00",
        "status": "done",
        "result": encode_ciphertext(public_key, encrypt(public_key, bit)),
    }


def _first(relay: LiveRelay, event: str) -> list[str]:
    """The relay's events up to the first ``event``, on a fresh loop in its own thread
    (Playwright's sync API may own this thread's loop when browser tests ran first)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _collect(relay, event)).result(timeout=60)


async def _collect(relay: LiveRelay, event: str, limit: int = 10) -> list[str]:
    seen = []
    stream = relay.browser_events("token", lambda: {PATIENT_ID: "Ada"})
    try:
        async for message in stream:
            seen.append(message)
            if message.startswith(f"event: {event}") or len(seen) >= limit:
                return seen
    finally:
        await stream.aclose()
    return seen


def test_live_relay_decrypts_and_forwards_only_the_verdict(tmp_path: Path) -> None:
    """The browser gets the verdict and the open-alert count; the abnormal result opened
    its alert in the physician's book on the way."""
    book = AlertBook(tmp_path / "alerts.sqlite3")
    pair = PhysicianKeyPair(*physician_key())
    result = _result(pair, 1)
    body = f": connected\n\nevent: result\nid: r1\ndata: {json.dumps(result)}\n\n"

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer token"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    relay = LiveRelay(
        "http://a.test", ResultDecryptor(pair), retry_s=0.01, alerts=book,
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    seen = _first(relay, "result")
    assert seen[-1].startswith("event: result")
    data = json.loads(seen[-1].split("data: ", 1)[1])
    assert data == {
        "patient_id": PATIENT_ID,
        "label": "Ada",
        "verdict": "abnormal",
        "taken_at": data["taken_at"],
        "open_alerts": 1,
    }
    assert [a.patient_id for a in book.open_alerts()] == [PATIENT_ID]
    assert str(result["result"])[:40] not in "".join(seen)


def test_live_relay_skips_a_malformed_event_and_keeps_the_next() -> None:
    pair = PhysicianKeyPair(*physician_key())
    good = json.dumps(_result(pair, 0))
    body = f'event: result\ndata: {{"reading_id": "r1"}}\n\nevent: result\ndata: {good}\n\n'
    relay = LiveRelay(
        "http://a.test", ResultDecryptor(pair), retry_s=0.01,
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        ),
    )  # fmt: skip
    seen = _first(relay, "result")
    assert any("skipped a malformed event" in m for m in seen)
    assert json.loads(seen[-1].split("data: ", 1)[1])["verdict"] == "normal"


def test_live_relay_reports_an_expired_token_and_ends() -> None:
    relay = LiveRelay(
        "http://a.test", ResultDecryptor(PhysicianKeyPair(*physician_key())), retry_s=0.01,
        transport=httpx.MockTransport(lambda request: httpx.Response(401)),
    )  # fmt: skip
    seen = _first(relay, "status: never")
    assert '"state":"expired"' in seen[-1]
