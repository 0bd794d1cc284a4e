"""Decisions made by another server A replica, delivered to this replica's event streams.

With several A processes on one PostgreSQL, the worker that decides a reading may not be
the process a physician's ``/v1/events`` stream is connected to. Each decision's
transaction notifies ``DECIDED_CHANNEL`` (``Storage.record_decisions``: the origin and
the reading ids, no value); this listener, one thread per process, ``LISTEN``s on it,
skips its own process's notifications (already published locally), reads the rows and
publishes them on the event loop. SQLite is one process: nothing to listen to.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from server_a.storage import DECIDED_CHANNEL

log = logging.getLogger("hrmon.server_a.decision_feed")

RECONNECT_S = 2.0


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (``postgresql://``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class DecisionListener:
    """A thread that hands other replicas' decided reading ids to ``deliver`` on ``loop``.

    Args:
        database_url: server A's PostgreSQL URL.
        origin: this process's worker id (its own notifications are skipped).
        deliver: called on ``loop`` with the ids (it reads and publishes them).
    """

    def __init__(
        self,
        database_url: str,
        origin: str,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[str]], None],
    ) -> None:
        self._url = libpq_url(database_url)
        self._origin = origin
        self._loop = loop
        self._deliver = deliver
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-feed", daemon=True)

    def start(self, ready_timeout_s: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in place (or after the timeout)."""
        self._thread.start()
        self._listening.wait(ready_timeout_s)

    def stop(self) -> None:
        """Stop the thread (it notices within a second)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {DECIDED_CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self._handle(note.payload)
            except psycopg.Error as exc:
                log.warning("decision feed: %s; reconnecting", type(exc).__name__)
                self._stop.wait(RECONNECT_S)

    def _handle(self, payload: str) -> None:
        origin, _, ids = payload.partition(";")
        if origin == self._origin or not ids:
            return
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, ids.split(","))
