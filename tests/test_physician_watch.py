"""``hrmon physician watch`` against real servers: an abnormal reading and a silent patient
each reach the physician's hook once, as "<label> has a new alert", never with a value;
a hook that is down is retried next round; a clear-text hook off this machine is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from client.errors import InputError
from physician.alerts import AlertBook
from physician.watch import Watcher, check_hook
from tests.browser_support import PASSWORD, World, physician_world

pytestmark = [pytest.mark.slow]

RANGE = (50.0, 110.0, 0.5, 0.15)
ODD_BPM = 171.3  # distinctive: a notification that leaked it would be caught


class Hook:
    """A local webhook receiver that records each JSON body (or answers 503 when down)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.up = True
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.up:
                    hook.bodies.append(json.loads(raw))
                self.send_response(204 if hook.up else 503)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("watch", {"Wanda Watch": RANGE, "Quiet Quinn": RANGE}) as world:
        yield world


def test_new_alerts_reach_the_hook_once_without_values(world: World) -> None:
    hook = Hook()
    watcher = Watcher(world.home, PASSWORD, hook.url)
    world.submit("Quiet Quinn", 70.0, 0.1, taken_at=datetime.now(UTC) - timedelta(hours=5))
    world.wait_decided("Quiet Quinn", 1)
    AlertBook.in_home(world.home).set_missed_after_hours(world.patient_id("Quiet Quinn"), 4)
    assert watcher.round() == (1, 1)
    assert hook.bodies == [
        {
            "text": "hrmon: Quiet Quinn has a new alert (no readings received)",
            "patient": "Quiet Quinn",
            "kind": "missed",
            "alert_id": hook.bodies[0]["alert_id"],
        }
    ]

    world.submit("Wanda Watch", ODD_BPM, 0.1)
    world.wait_decided("Wanda Watch", 1)
    hook.up = False  # the hook is down: nothing is marked sent
    assert watcher.round() == (2, 0)
    hook.up = True
    assert watcher.round() == (2, 1)
    assert hook.bodies[-1]["text"] == "hrmon: Wanda Watch has a new alert (abnormal reading)"
    assert watcher.round() == (2, 0)  # each alert is sent once
    assert watcher._api is not None
    watcher._api.token = "expired"  # as after 15 minutes: the next round signs in again
    assert watcher.round() == (2, 0)
    watcher.close()
    sent = json.dumps(hook.bodies)
    assert str(ODD_BPM) not in sent and "1713" not in sent


def test_only_an_encrypted_or_local_hook_is_accepted() -> None:
    assert check_hook("https://hooks.example.org/x") == "https://hooks.example.org/x"
    assert check_hook("http://127.0.0.1:9000/h") == "http://127.0.0.1:9000/h"
    for bad in ("http://hooks.example.org/x", "ftp://x", "file:///etc/passwd"):
        with pytest.raises(InputError, match="https"):
            check_hook(bad)
