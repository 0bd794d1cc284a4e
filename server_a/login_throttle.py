"""Sign-in throttling: a token bucket per username and per client, and a cap on how many
password hashes run at once.

An argon2id check costs 64 MiB and tens of milliseconds. Unthrottled, a guesser had
unlimited tries at a physician's password, and a flood of sign-ins could hash A out of
memory. Each attempt spends a token of its client's bucket, each *failed* attempt one of
its username's (the CLI signs in once per command: success must stay cheap), and an
attempt finding either bucket empty gets 429 with ``Retry-After`` before any hash. At
most ``max_concurrent_hashes`` hashes run together (a 429 after a short wait otherwise).
A throttled username is delayed, never locked: its owner signs in once the bucket
refills.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from server_a.core.config import Settings
from server_a.ratelimit import buckets_for

HASH_WAIT_S = 2.0
"""How long a sign-in waits for a hashing slot before it is told to retry."""


class HashesBusy(Exception):
    """Every hashing slot stayed taken for :data:`HASH_WAIT_S`."""


class LoginThrottle:
    """The buckets (shared by the replicas on PostgreSQL) and the hashing slots (this
    process's: they bound its own memory)."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        keys = settings.max_tracked_devices
        self.by_username = buckets_for(
            engine, "login-user", settings.login_rate_per_s, settings.login_burst, keys
        )
        self.by_client = buckets_for(
            engine,
            "login-client",
            settings.client_login_rate_per_s,
            settings.client_login_burst,
            keys,
        )
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_hashes)

    def admit(self, username: str, client: str) -> float:
        """Spend the client's token: 0 when the attempt may go on, else seconds to wait."""
        wait = self.by_client.take(client)
        if wait > 0:
            return wait
        return self.by_username.wait(username.casefold())

    def failed(self, username: str) -> None:
        """A wrong password: spend one of the username's tokens."""
        self.by_username.take(username.casefold())

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one hashing slot.

        Raises:
            HashesBusy: none came free in time.
        """
        if not self._slots.acquire(timeout=HASH_WAIT_S):
            raise HashesBusy
        try:
            yield
        finally:
            self._slots.release()
