"""Token buckets in the database, shared by every server A replica (PostgreSQL).

The same buckets as :class:`server_a.ratelimit.TokenBuckets` (same ``take`` and ``wait``),
kept in the ``rate_buckets`` table so that N API replicas behind a load balancer give a
device one burst, not N, and a password guesser one allowance. A take is one atomic
upsert: the row lock orders concurrent takes of one bucket across replicas, and every
``SET`` expression reads the row as it was, so "refill, then spend one if there is one"
happens at once. Time is the replicas' wall clock (``time.time``): a clock behind by a few
seconds refills nothing rather than too much (``max(0, now - updated)``).

A bucket that has refilled completely is the same as no bucket, so rows idle for longer
than a full refill are deleted now and then: junk usernames cannot grow the table
without bound. Bucket names are SHA-256 of scope and key: a username typed at sign-in
(perhaps a password typed in the wrong field) is never stored.
"""

from __future__ import annotations

import hashlib
import threading
import time

import sqlalchemy as sa

PRUNE_EVERY = 512
"""Takes between two deletions of fully refilled rows (per scope, per process)."""

_TAKE = """
INSERT INTO rate_buckets (bucket, scope, tokens, updated_s, allowed)
VALUES (:bucket, :scope, :burst - 1, :now, TRUE)
ON CONFLICT (bucket) DO UPDATE SET
    allowed = {refilled} >= 1,
    tokens = {refilled} - CASE WHEN {refilled} >= 1 THEN 1 ELSE 0 END,
    updated_s = {greatest}(rate_buckets.updated_s, :now)
RETURNING allowed, tokens
"""


def _take_sql(dialect: str) -> sa.TextClause:
    """The upsert in this dialect (PostgreSQL's LEAST/GREATEST, SQLite's MIN/MAX)."""
    least, greatest = ("LEAST", "GREATEST") if dialect == "postgresql" else ("MIN", "MAX")
    refilled = (
        f"{least}(:burst, rate_buckets.tokens"
        f" + {greatest}(0, :now - rate_buckets.updated_s) * :rate)"
    )
    return sa.text(_TAKE.format(refilled=refilled, greatest=greatest))


class SharedTokenBuckets:
    """One bucket per key of ``scope`` (e.g. "device"), in the database of ``engine``."""

    def __init__(self, engine: sa.Engine, scope: str, rate_per_s: float, burst: int) -> None:
        self.engine = engine
        self.scope = scope
        self.rate = rate_per_s
        self.burst = burst
        self._take = _take_sql(engine.dialect.name)
        self._takes = 0
        self._lock = threading.Lock()

    def _bucket(self, key: str) -> str:
        return hashlib.sha256(f"{self.scope}:{key}".encode()).hexdigest()

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` has a token (0: it has one now); spends nothing."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT tokens, updated_s FROM rate_buckets WHERE bucket = :bucket"),
                {"bucket": self._bucket(key)},
            ).first()
        if row is None:
            return 0.0
        now = time.time() if now is None else now
        tokens = min(self.burst, row.tokens + max(0.0, now - row.updated_s) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token of ``key``'s bucket: 0 if allowed, else seconds until one."""
        now = time.time() if now is None else now
        values = {
            "bucket": self._bucket(key),
            "scope": self.scope,
            "burst": self.burst,
            "rate": self.rate,
            "now": now,
        }
        with self.engine.begin() as connection:
            allowed, tokens = connection.execute(self._take, values).one()
        self._prune_now_and_then(now)
        return 0.0 if allowed else (1 - tokens) / self.rate

    def _prune_now_and_then(self, now: float) -> None:
        with self._lock:
            self._takes += 1
            if self._takes % PRUNE_EVERY:
                return
        full_after_s = self.burst / self.rate
        with self.engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM rate_buckets WHERE scope = :scope AND updated_s < :stale"),
                {"scope": self.scope, "stale": now - full_after_s},
            )
