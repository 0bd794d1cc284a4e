"""Server A, the compute cloud: enrolment, ciphertext storage, comparison with B, results."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry

from server_a.api.main import api_router
from server_a.b_client import b_transport as make_b_transport
from server_a.comparison_worker import ComparisonWorker
from server_a.core.config import Settings, get_settings
from server_a.decision_feed import DecisionListener
from server_a.events import Broadcaster
from server_a.login_throttle import LoginThrottle
from server_a.metrics import a_metrics
from server_a.ratelimit import buckets_for
from server_a.results import result_out
from server_a.services import Services
from server_a.storage import Storage
from service_common.body_limit import BodySizeLimit
from service_common.metrics import install_metrics
from service_common.noise import NoisePoolCache

log = logging.getLogger("hrmon.server_a")


def _publish_decided(
    storage: Storage,
    broadcaster: Broadcaster,
    tasks: set[asyncio.Task[None]],
    reading_ids: list[str],
) -> None:
    """Read another replica's decided readings and tell this replica's streams (on the
    event loop; the read runs in a thread)."""

    async def publish() -> None:
        for row, owner in await asyncio.to_thread(storage.decided_with_owners, reading_ids):
            broadcaster.publish(owner, result_out(row))

    task = asyncio.create_task(publish())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def create_app(
    settings: Settings | None = None, b_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Build server A around ``settings`` (default: the environment).

    Args:
        settings: checked configuration (key files already loaded).
        b_transport: how to reach server B; tests pass ``httpx.ASGITransport(app=b_app)``.

    Settings are read once (a key file missing or too weak has already stopped the
    start, as a ``pydantic.ValidationError``) and passed down.
    """
    settings = settings or get_settings()
    storage = Storage(settings.database_url)
    broadcaster = Broadcaster()
    registry = CollectorRegistry()
    if b_transport is None:
        tls = settings.tls_files
        b_transport = make_b_transport(tls.client_context() if tls is not None else None)
    b_transport = a_metrics(registry, storage, b_transport)
    worker = ComparisonWorker(
        settings,
        storage,
        broadcaster,
        NoisePoolCache(settings.noise_pool_size, scheme=settings.noise_scheme),
        b_transport,
    )
    buckets = buckets_for(
        storage.engine,
        "device",
        settings.device_rate_per_s,
        settings.device_burst,
        settings.max_tracked_devices,
    )
    throttle = LoginThrottle(settings, storage.engine)
    services = Services(settings, storage, broadcaster, worker, buckets, throttle)
    pending_tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(storage.migrate)
        feed = None
        if storage.engine.dialect.name == "postgresql":  # other replicas' decisions
            feed = DecisionListener(
                settings.database_url,
                worker.worker_id,
                asyncio.get_running_loop(),
                functools.partial(_publish_decided, storage, broadcaster, pending_tasks),
            )
            await asyncio.to_thread(feed.start)
        if settings.comparison_worker:
            await worker.start()
        services.ready = True
        try:
            yield
        finally:
            services.ready = False
            await worker.stop()
            if feed is not None:
                await asyncio.to_thread(feed.stop)
            storage.close()

    app = FastAPIOffline(  # Swagger UI and ReDoc from local assets: /docs works offline
        title="hrmon server A (compute cloud)",
        version="1",
        lifespan=lifespan,
        description="Stores ciphertexts, runs the blinded comparison with server B, "
        "keeps Enc_pkD(bit) per reading. Sees no plaintext value.",
    )
    app.state.services = services
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(api_router)
    install_metrics(app, "hrmon_a", settings.metrics_token, registry)
    return app
