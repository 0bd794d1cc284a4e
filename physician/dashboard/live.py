"""Live updates: server A's event stream, decrypted here, relayed to the browser.

The dashboard holds one upstream ``GET /v1/events`` per open page, decrypts each decided
result with sk_D in this process, and sends the browser only what it may show: the
patient, the verdict and the time. It also reports the stream's own state ("live",
"down", "expired") so the page can say whether it is up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import anyio
import httpx
from pydantic import ValidationError

from client.errors import AuthError, HrmonError
from physician.alerts import AlertBook
from physician.dashboard.views import ResultDecryptor, format_time
from protocol.messages import ResultOut

PING_S = 15.0
RETRY_S = 2.0
CONNECT_TIMEOUT_S = 10.0

LabelLookup = Callable[[], dict[str, str]]


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def parse_event_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each ``result`` event in a text/event-stream (comments skipped)."""
    event: str = "message"
    data: list[str] = []
    async for line in lines:
        if not line:
            if data and event == "result":
                yield "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


class _Upstream(Exception):
    """A's event stream refused or broke (the message is safe to show)."""


class LiveRelay:
    """Relays server A's result events to one browser page, decrypted.

    Args:
        server: server A's base URL.
        decryptor: sk_D's verdicts.
        labels: returns {patient_id: label} for the signed-in physician (called in a thread).
        alerts: the alert book that each abnormal result opens an alert in.
        transport: an alternative httpx transport (tests).
    """

    def __init__(
        self,
        server: str,
        decryptor: ResultDecryptor,
        *,
        ping_s: float = PING_S,
        retry_s: float = RETRY_S,
        alerts: AlertBook | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._alerts = alerts
        self._server = server.rstrip("/")
        self._decryptor = decryptor
        self._ping_s = ping_s
        self._retry_s = retry_s
        self._transport = transport

    async def browser_events(self, token: str, labels: LabelLookup) -> AsyncGenerator[str, None]:
        """The browser's event stream; ends when the server-A token is refused."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(token, labels, queue))
        try:
            yield sse("status", {"state": "connecting", "message": "connecting to server A"})
            while True:
                try:  # asyncio.timeout: wait_for can swallow a cancel on 3.11 (gh-86296)
                    async with asyncio.timeout(self._ping_s):
                        message = await queue.get()
                except TimeoutError:
                    message = ": ping\n\n"  # lets both ends notice a dead connection
                if message is None:
                    return
                yield message
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(
        self, token: str, labels: LabelLookup, queue: asyncio.Queue[str | None]
    ) -> None:
        known: dict[str, str] = {}
        while True:
            try:
                known = await anyio.to_thread.run_sync(labels)
                await self._follow(token, known, labels, queue)
                message = "server A closed the event stream; reconnecting"
            except (PermissionError, AuthError):
                await queue.put(sse("status", {"state": "expired", "message": "sign-in expired"}))
                await queue.put(None)
                return
            except (_Upstream, HrmonError) as exc:
                message = f"{exc}; retrying"
            except httpx.HTTPError as exc:
                message = f"server A is unreachable ({type(exc).__name__}); retrying"
            await queue.put(sse("status", {"state": "down", "message": message}))
            await asyncio.sleep(self._retry_s)

    async def _follow(
        self,
        token: str,
        known: dict[str, str],
        labels: LabelLookup,
        queue: asyncio.Queue[str | None],
    ) -> None:
        timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=None)
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with (
            httpx.AsyncClient(
                base_url=self._server, timeout=timeout, transport=self._transport
            ) as http,
            http.stream("GET", "/v1/events", headers=headers) as response,
        ):
            if response.status_code == 401:
                raise PermissionError("token refused")
            if response.status_code >= 400:
                raise _Upstream(f"server A refused the event stream (HTTP {response.status_code})")
            await queue.put(sse("status", {"state": "live", "message": "live updates on"}))
            async for data in parse_event_data(response.aiter_lines()):
                try:
                    result = ResultOut.model_validate_json(data)
                except ValidationError:  # A's fault; the next events may be fine
                    note = {"state": "live", "message": "skipped a malformed event from server A"}
                    await queue.put(sse("status", note))
                    continue
                patient_id = str(result.patient_id)
                if patient_id not in known:
                    known = await anyio.to_thread.run_sync(labels)
                verdict = await anyio.to_thread.run_sync(self._decryptor.verdict, result)
                open_alerts = await anyio.to_thread.run_sync(self._note_alert, result, verdict)
                await queue.put(
                    sse(
                        "result",
                        {
                            "patient_id": patient_id,
                            "label": known.get(patient_id, "unknown patient"),
                            "verdict": verdict,
                            "taken_at": format_time(result.taken_at),
                            "open_alerts": open_alerts,
                        },
                    )
                )

    def _note_alert(self, result: ResultOut, verdict: str) -> int | None:
        """Open the alert of an abnormal result; the number of open alerts (None: no book)."""
        if self._alerts is None:
            return None
        if verdict == "abnormal":
            self._alerts.open_abnormal(
                str(result.patient_id), str(result.reading_id), result.taken_at
            )
        return self._alerts.open_total()
