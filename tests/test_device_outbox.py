"""The device's outbox: kept in order, sent once, a permanent refusal dropped, a
temporary one (A away, 429) kept for later."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from client.errors import ApiError, ServerUnavailable
from device.outbox import Outbox, outbox_path
from device.sending import send_waiting
from protocol.messages import ReadingAccepted


class FakeA:
    """Answers each body by its reading id's fate in ``fates`` (default: stored)."""

    def __init__(self, fates: dict[str, Exception]) -> None:
        self.fates = fates
        self.sent: list[str] = []

    def submit_reading(self, body: dict[str, Any]) -> ReadingAccepted:
        reading_id = str(body["reading_id"])
        self.sent.append(reading_id)
        if reading_id in self.fates:
            raise self.fates[reading_id]
        return ReadingAccepted(reading_id=uuid.UUID(reading_id))


def _bodies(n: int) -> list[dict[str, Any]]:
    return [{"reading_id": str(uuid.uuid4()), "score": "QUJD"} for _ in range(n)]


def test_kept_in_order_0600_and_a_second_add_is_a_no_op(tmp_path: Path) -> None:
    box = Outbox(outbox_path(tmp_path / "device.json"))
    bodies = _bodies(3)
    for body in [*bodies, bodies[0]]:
        box.add(body)
    assert [b["reading_id"] for b in box.waiting()] == [b["reading_id"] for b in bodies]
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o600
    assert len(Outbox(box.path)) == 3  # durable: another process sees them


def test_a_permanent_refusal_is_dropped_and_a_rate_limit_keeps_the_rest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "box.sqlite3")
    first, bad, third, fourth = _bodies(4)
    for body in (first, bad, third, fourth):
        box.add(body)
    refusal = ApiError("reading refused: taken_at in the future", 422)
    api = FakeA({bad["reading_id"]: refusal, third["reading_id"]: ApiError("slow down", 429)})
    stored, dropped = send_waiting(api, box)  # type: ignore[arg-type]
    assert stored == [first["reading_id"]]
    assert dropped == [(bad["reading_id"], refusal)]
    assert [b["reading_id"] for b in box.waiting()] == [third["reading_id"], fourth["reading_id"]]


def test_a_away_midway_keeps_what_was_not_sent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "box.sqlite3")
    first, second = _bodies(2)
    box.add(first)
    box.add(second)
    api = FakeA({second["reading_id"]: ServerUnavailable("server A is unreachable")})
    with pytest.raises(ServerUnavailable):
        send_waiting(api, box)  # type: ignore[arg-type]
    assert [b["reading_id"] for b in box.waiting()] == [second["reading_id"]]
