"""Random values drawn ahead of need and handed out once each.

The noise r^N of a Paillier encryption and the re-randomisers h^r of DGK depend on no
data, so a server can draw them while idle instead of while a reading waits. One pool
type serves both: ``make`` says how a value is drawn, the pool only keeps and hands out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class UseOncePool:
    """Values from ``make`` (count -> that many fresh values), kept for a background
    thread to top up to ``target``. ``take``/``take_many`` never block and never hand
    a value out twice: an empty pool makes fresh ones on the spot."""

    def __init__(self, make: Callable[[int], list[int]], target: int) -> None:
        self.make = make
        self.target = target
        self._items: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def fill(self, count: int | None = None) -> int:
        """Add ``count`` values (default: up to ``target``); return how many were added."""
        wanted = max(0, (self.target - len(self._items)) if count is None else count)
        self._items.extend(self.make(wanted))
        return wanted

    def take_many(self, count: int) -> list[int]:
        """``count`` never-used values: pooled ones first, the rest made now."""
        out = []
        for _ in range(count):
            try:
                out.append(self._items.popleft())  # atomic: safe beside the filler thread
            except IndexError:
                break
        return out + self.make(count - len(out))

    def take(self) -> int:
        """One never-used value."""
        return self.take_many(1)[0]
