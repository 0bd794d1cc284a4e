"""Prometheus metrics shared by both servers: a per-app registry, request counts and
latencies by handler and status, and ``GET /metrics``. Counts and timings only, no values.

``/metrics`` wants ``Authorization: Bearer <metrics_token>`` (the key directory's
``metrics_token``, made by ``hrmon setup``); without a token file it is not served (404).
"""

from __future__ import annotations

import hmac
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """ASGI middleware counting requests by handler name (not path: no ids as labels)."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            endpoint = scope.get("endpoint")
            handler = getattr(endpoint, "__name__", "unmatched")
            self.requests.labels(handler, str(status)).inc()
            self.latency.labels(handler).observe(time.perf_counter() - started)


def install_metrics(
    app: FastAPI, prefix: str, token: str | None, registry: CollectorRegistry | None = None
) -> CollectorRegistry:
    """Count ``app``'s requests into ``registry`` (a new one by default) and serve it.

    Args:
        app: the service.
        prefix: metric name prefix, ``hrmon_a`` or ``hrmon_b``.
        token: the scraper's bearer token; None serves no ``/metrics``.
        registry: where the service's own metrics live as well.

    Returns:
        The registry, for the service to add its own metrics to.
    """
    registry = registry or CollectorRegistry()
    requests = Counter(
        f"{prefix}_http_requests",
        "HTTP requests answered, by handler and status code",
        ["handler", "status"],
        registry=registry,
    )
    latency = Histogram(
        f"{prefix}_http_request_seconds",
        "Time to answer an HTTP request, by handler",
        ["handler"],
        registry=registry,
    )
    app.add_middleware(HttpMetrics, requests=requests, latency=latency)

    if token is None:
        return registry
    expected = f"Bearer {token}".encode()

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(
                '{"detail":"metrics: missing or wrong bearer token"}',
                status_code=401,
                media_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
