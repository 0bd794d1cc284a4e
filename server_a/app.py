"""Server A, the compute cloud: enrolment, ciphertext storage, comparison with B, results."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from server_a.api.main import api_router
from server_a.b_client import b_transport as make_b_transport
from server_a.comparison_worker import ComparisonWorker
from server_a.core.config import Settings, get_settings
from server_a.events import Broadcaster
from server_a.login_throttle import LoginThrottle
from server_a.metrics import a_metrics
from server_a.ratelimit import TokenBuckets
from server_a.services import Services
from server_a.storage import Storage
from service_common.body_limit import BodySizeLimit
from service_common.metrics import install_metrics
from service_common.noise import NoisePoolCache

log = logging.getLogger("hrmon.server_a")


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
    buckets = TokenBuckets(
        settings.device_rate_per_s, settings.device_burst, settings.max_tracked_devices
    )
    services = Services(settings, storage, broadcaster, worker, buckets, LoginThrottle(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(storage.migrate)
        await worker.start()
        services.ready = True
        try:
            yield
        finally:
            services.ready = False
            await worker.stop()
            storage.close()

    app = FastAPI(
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
