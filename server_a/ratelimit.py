"""Per-device rate limit on ``POST /v1/readings``: a token bucket per device, in memory.

Keyed by the *authenticated* patient (``server_a.api.deps.LimitedDevice``), so spelling
the Authorization header differently (``bearer``, ``BEARER``) reaches the same bucket,
and a token that fails authentication allocates nothing: junk tokens can neither get
fresh buckets nor evict a drained device's. Over the limit: 429 with ``Retry-After``
(seconds). Rates come from ``Settings`` (``HRMON_A_DEVICE_RATE_PER_S``,
``HRMON_A_DEVICE_BURST``, ``HRMON_A_MAX_TRACKED_DEVICES``).

On PostgreSQL, where several replicas may serve one clinic, :func:`buckets_for` returns
the same buckets kept in the database instead (:mod:`server_a.shared_ratelimit`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa


class Buckets(Protocol):
    """Token buckets by key: in this process or shared by every replica."""

    def wait(self, key: str, now: float | None = None) -> float: ...

    def take(self, key: str, now: float | None = None) -> float: ...


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key, the least recently used dropped past ``max_keys``."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` has a token (0: it has one now); spends nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token of ``key``'s bucket.

        Returns:
            0 if allowed, else the seconds until a token is available.
        """
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def buckets_for(
    engine: sa.Engine, scope: str, rate_per_s: float, burst: int, max_keys: int
) -> Buckets:
    """Shared buckets on PostgreSQL (replicas), this process's own on SQLite (one process)."""
    if engine.dialect.name == "postgresql":
        from server_a.shared_ratelimit import SharedTokenBuckets

        return SharedTokenBuckets(engine, scope, rate_per_s, burst)
    return TokenBuckets(rate_per_s, burst, max_keys)


def retry_after(wait_s: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
