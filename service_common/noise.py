"""A bounded cache of ``NoisePool``s, one per public key, refilled by a background thread.

The request path takes precomputed r^N values when there are some and computes one on
demand when not; the filler thread uses idle time to keep every pool near its target.

Idle time only: while a comparison runs (:meth:`NoisePoolCache.foreground`, or the
``defer`` signal of another process) the filler tops up only pools that run low. A
refill started by a reading's own ``take`` would otherwise take a core from that
reading's partial decryptions: on two cores, with the servers in separate process
groups (each its own scheduling group, where ``nice`` does not reach), both partial
decryptions of a lone reading took twice their CPU time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from protocol.paillier import NoisePool, NoiseScheme, PublicKey, fresh_noise
from protocol.pool import UseOncePool

LOW_WATER = 0.5
"""While deferring, the filler still tops up a pool below this share of its target, so
that a long burst does not empty it."""

DEFER_POLL_S = 0.02
"""How often a deferring filler looks again (the other process's signal has no wake-up)."""


class NoisePoolCache:
    """Pools keyed by modulus, least recently used evicted beyond ``max_keys``.

    ``target == 0`` turns pooling off: every ``take`` computes fresh noise. ``scheme``:
    how each r^N is drawn (``protocol.paillier.NoiseScheme``). ``defer``: True while
    work elsewhere (server A's comparison, seen from its crypto process) should have
    the cores; :meth:`foreground` marks such work in this process.
    """

    def __init__(
        self,
        target: int = 32,
        max_keys: int = 64,
        scheme: NoiseScheme = "full",
        *,
        defer: Callable[[], bool] | None = None,
    ) -> None:
        self.target = target
        self.max_keys = max_keys
        self.scheme: NoiseScheme = scheme
        self._defer = defer
        self._foreground = 0
        self._pools: OrderedDict[int, NoisePool] = OrderedDict()
        self._dgk_pools: list[UseOncePool] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pool(self, public_key: PublicKey) -> NoisePool:
        """The pool for this key, made (and the filler woken) on first use."""
        n: int = public_key.n
        with self._lock:
            pool = self._pools.get(n)
            if pool is None:
                pool = NoisePool(public_key, self.target, self.scheme)
                self._pools[n] = pool
                while len(self._pools) > self.max_keys:
                    self._pools.popitem(last=False)
            else:
                self._pools.move_to_end(n)
        self._wake.set()
        return pool

    def take(self, public_key: PublicKey) -> int:
        """One never-used r^N under ``public_key``."""
        if self.target <= 0:
            return fresh_noise(public_key, self.scheme)
        value = self.pool(public_key).take()
        self._wake.set()
        return value

    def dgk_factors(
        self, make: Callable[[int], list[int]], per_reading: int
    ) -> Callable[[int], list[int]]:
        """A source of DGK re-randomisers h^r (count -> values) for the zero-leakage mode:
        ``make`` pooled for ``target`` readings of ``per_reading`` each, refilled by the
        same thread as the r^N pools."""
        pool = UseOncePool(make, self.target * per_reading)
        with self._lock:
            self._dgk_pools.append(pool)

        def take(count: int) -> list[int]:
            values = pool.take_many(count)
            self._wake.set()
            return values

        return take

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """While inside, the filler only tops up pools below :data:`LOW_WATER`."""
        with self._lock:
            self._foreground += 1
        try:
            yield
        finally:
            with self._lock:
                self._foreground -= 1
            self._wake.set()

    def _deferring(self) -> bool:
        return self._foreground > 0 or (self._defer is not None and self._defer())

    def start(self) -> None:
        """Start the filler thread (idempotent; nothing to do when pooling is off)."""
        if self.target <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="noise-filler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the filler thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                pools: list[UseOncePool] = [
                    *self._pools.values(),
                    *self._dgk_pools,
                ]
            hungry = [p for p in pools if len(p) < p.target]
            if hungry and self._deferring():
                hungry = [p for p in hungry if len(p) < p.target * LOW_WATER]
                if not hungry:
                    self._wake.wait(timeout=DEFER_POLL_S)
                    continue
            for pool in hungry:
                if self._stop.is_set():
                    return
                pool.fill(1)  # one at a time: a request never waits behind a long refill
            if not hungry:
                self._wake.wait(timeout=5)
