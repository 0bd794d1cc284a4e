"""Getting encrypted readings to server A: through the outbox, oldest first, once each.

Every command and page of the device sends the same way: the body goes into the outbox
(:mod:`device.outbox`) first, then the outbox is sent in order over one connection
(:class:`OutboxSender`). While A is away the readings simply stay there, and go out with
the next reading or ``hrmon device flush``.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from client.api import ServerAClient
from client.device_config import DeviceConfig
from client.errors import ApiError, AuthError, ServerUnavailable
from client.system_key import check_pinned
from device.history import DeviceHistory, own_reading
from device.outbox import Outbox
from protocol.messages import ReadingAccepted

if TYPE_CHECKING:
    from client.encrypt import EncodedReading
    from device.analysis import Analysis

SUBMIT_RETRIES = 2
RETRY_PAUSE_S = 0.5

Refused = list[tuple[str, ApiError]]
"""Readings A refused for good (dropped from the outbox): id and A's reason."""


def keep(
    outbox: Outbox,
    history: DeviceHistory,
    body: dict[str, Any],
    reading: EncodedReading,
    result: Analysis,
) -> None:
    """Before a reading is sent: its ciphertexts into the outbox (nothing is lost while A
    is away) and the patient's own values into the device's history."""
    outbox.add(body)
    history.add(own_reading(body, reading, result))


def connect(config: DeviceConfig) -> ServerAClient:
    """A client authenticated with the device token, after checking A serves the pinned key.

    Raises:
        KeyMismatch: A's system key differs from the one in the device file.
    """
    api = ServerAClient(config.server, config.device_token)
    try:
        check_pinned(api.system_key(), config.system_key.key_id)
    except BaseException:
        api.close()
        raise
    return api


def send_body(
    api: ServerAClient, body: dict[str, Any], retries: int = SUBMIT_RETRIES
) -> ReadingAccepted:
    """POST one encrypted body, retrying the *same* body while A is briefly unreachable."""
    for attempt in range(retries + 1):
        try:
            return api.submit_reading(body)
        except ServerUnavailable:
            if attempt == retries:
                raise
            time.sleep(RETRY_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def send_waiting(api: ServerAClient, outbox: Outbox) -> tuple[list[str], Refused]:
    """Send the outbox, oldest first: (ids A stored, readings A refused for good).

    Stops, keeping the rest, when A is away, rate-limits the device or refuses its token.

    Raises:
        ServerUnavailable: A went away in the middle (what was sent is out of the box).
    """
    stored: list[str] = []
    dropped: Refused = []
    for body in outbox.waiting():
        reading_id = str(body["reading_id"])
        try:
            send_body(api, body)
        except (AuthError, ServerUnavailable):
            raise
        except ApiError as exc:
            if exc.status_code == 429:  # later, not never
                break
            dropped.append((reading_id, exc))  # e.g. 422: it would never be stored
            outbox.remove(reading_id)
            continue
        outbox.remove(reading_id)
        stored.append(reading_id)
    return stored, dropped


class OutboxSender:
    """Sends an outbox over one connection for as long as A answers; once A is away (at
    the start or in the middle) it stops trying and says why in :attr:`away`, and the
    readings stay in the outbox."""

    def __init__(self, config: DeviceConfig, outbox: Outbox) -> None:
        self.outbox = outbox
        self.away: str | None = None
        self._api: ServerAClient | None = None
        try:
            self._api = connect(config)
        except ServerUnavailable as exc:
            self.away = str(exc)

    def send(self) -> tuple[list[str], Refused]:
        """Send what waits: (ids A stored, readings A refused for good)."""
        if self._api is None or self.away is not None:
            return [], []
        try:
            return send_waiting(self._api, self.outbox)
        except ServerUnavailable as exc:
            self.away = str(exc)
            return [], []

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> OutboxSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def deliver(config: DeviceConfig, outbox: Outbox) -> tuple[list[str], Refused, str | None]:
    """Connect once and send the outbox: (stored ids, dropped, why A was away or None)."""
    with OutboxSender(config, outbox) as sender:
        stored, dropped = sender.send()
    return stored, dropped, sender.away


def queued_note(outbox: Outbox, why: str) -> str:
    """What the patient is told when readings wait for A."""
    return (
        f"{why}\nkept on this device: {len(outbox)} reading(s) waiting; they go out with "
        "the next reading, or run `hrmon device flush`"
    )
