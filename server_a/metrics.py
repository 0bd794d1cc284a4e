"""Server A's own metrics: readings by status (read from the database at scrape time, so
they survive restarts), the latency and failures of calls to server B. No values."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from server_a.models import Reading
from server_a.storage import Storage

STATUSES = ("pending", "done", "invalid")


COUNT_EVERY_S = 10.0
"""Least time between two counts of the readings table."""


class ReadingsCollector(Collector):
    """``hrmon_a_readings{status}``: stored readings per status (pending = awaiting B/range).

    The count is a GROUP BY over every reading: it runs at most once per
    :data:`COUNT_EVERY_S`, whatever the scrape rate, so scrapes stay cheap.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._counts: dict[str, int] = {}
        self._counted_at = -math.inf

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hrmon_a_readings", "Stored readings by status", labels=["status"]
        )
        if time.monotonic() - self._counted_at >= COUNT_EVERY_S:
            try:
                with self.storage.engine.connect() as connection:
                    rows = connection.execute(
                        select(Reading.status, func.count()).group_by(Reading.status)
                    ).all()
            except SQLAlchemyError:
                return  # database down: /readyz says so; no stale numbers here
            self._counts = {str(status): int(count) for status, count in rows}
            self._counted_at = time.monotonic()
        counts = self._counts
        for status in STATUSES:
            family.add_metric([status], counts.get(status, 0))
        yield family


class TimedTransport(httpx.AsyncBaseTransport):
    """Wraps the transport to server B: latency of every call, failures by reason."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, latency: Histogram, failures: Counter
    ) -> None:
        self.inner = inner
        self.latency = latency
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TimeoutException:
            self.failures.labels("timeout").inc()
            raise
        except httpx.TransportError:
            self.failures.labels("unreachable").inc()
            raise
        finally:
            self.latency.observe(time.perf_counter() - started)
        if response.status_code != 200:
            self.failures.labels(f"http_{response.status_code}").inc()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def a_metrics(
    registry: CollectorRegistry, storage: Storage, inner: httpx.AsyncBaseTransport
) -> httpx.AsyncBaseTransport:
    """Register A's metrics in ``registry``; returns the timed transport to B to use."""
    registry.register(ReadingsCollector(storage))
    latency = Histogram(
        "hrmon_a_b_call_seconds",
        "Latency of POST /v1/compare to server B",
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        registry=registry,
    )
    failures = Counter(
        "hrmon_a_b_call_failures",
        "Calls to server B that failed, by reason (timeout, unreachable, http_<status>)",
        ["reason"],
        registry=registry,
    )
    return TimedTransport(inner, latency, failures)
