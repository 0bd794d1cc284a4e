"""Per-device rate limit on ``POST /v1/readings``: a token bucket per device token, in memory.

Keyed by the SHA-256 of the bearer token (the token itself is never kept), checked before
the request reaches the database; over the limit: 429 with ``Retry-After`` (seconds).
Rates come from ``Settings`` (``HRMON_A_DEVICE_RATE_PER_S``, ``HRMON_A_DEVICE_BURST``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from service_common.body_limit import send_json_error

READINGS_PATH = "/v1/readings"


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


class DeviceRateLimit:
    """ASGI middleware: 429 for a device submitting readings faster than its bucket allows."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and (scope["path"].rstrip("/") == READINGS_PATH)
        ):
            token = dict(scope["headers"]).get(b"authorization", b"")
            key = hashlib.sha256(token).hexdigest()
            wait = self.buckets.take(key)
            if wait > 0:
                await _too_many(send, wait)
                return
        await self.app(scope, receive, send)


async def _too_many(send: Send, wait_s: float) -> None:
    retry_after = str(max(1, math.ceil(wait_s)))
    await send_json_error(
        send,
        429,
        f"rate limit: too many readings from this device; retry in {retry_after} s",
        [(b"retry-after", retry_after.encode())],
    )
