"""In-process broadcast of decided results to physicians' event streams (one uvicorn worker).

Each subscriber gets a bounded queue; a subscriber that falls behind loses events rather
than holding memory (the physician's tools re-read ``/results`` on reconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from protocol.messages import ResultOut


class Broadcaster:
    """Fan-out of :class:`ResultOut` to the streams of the owning physician."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[int, tuple[str, asyncio.Queue[ResultOut]]] = {}
        self._next = 0

    @contextmanager
    def subscribe(self, physician_id: str) -> Iterator[asyncio.Queue[ResultOut]]:
        """A queue of this physician's new results, for the life of the ``with`` block."""
        queue: asyncio.Queue[ResultOut] = asyncio.Queue(self.queue_size)
        token = self._next
        self._next += 1
        self._subscribers[token] = (physician_id, queue)
        try:
            yield queue
        finally:
            self._subscribers.pop(token, None)

    def publish(self, physician_id: str, result: ResultOut) -> None:
        """Hand ``result`` to every stream of ``physician_id`` (call on the event loop)."""
        for owner, queue in list(self._subscribers.values()):
            if owner == physician_id:
                with suppress(asyncio.QueueFull):
                    queue.put_nowait(result)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
