"""Server B, the key cloud: holds SK2 and answers server A alone, in the configured mode."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from protocol import dgk
from protocol.modes.base import ModeB
from protocol.modes.baseline import BaselineB
from protocol.modes.zero_leakage import TERMS_PER_READING, ZeroLeakageB
from server_b.api.routes import health
from server_b.api.routes.comparison import comparison_router
from server_b.core.config import Settings, get_settings
from service_common.body_limit import BodySizeLimit
from service_common.keyfiles import minimum_key_bits
from service_common.metrics import install_metrics
from service_common.noise import NoisePoolCache


def comparison_mode(settings: Settings, noise: NoisePoolCache) -> ModeB:
    """B's half of ``settings.comparison_mode`` (only its routes are served)."""
    min_bits = minimum_key_bits(settings.allow_insecure_test_keys)
    if settings.comparison_mode == "zero-leakage":
        secret = settings.dgk_secret
        factors = noise.dgk_factors(
            functools.partial(dgk.key_holder_factors, secret), TERMS_PER_READING
        )
        return ZeroLeakageB(settings.share, secret, min_bits, noise.take, factors)
    return BaselineB(settings.share, min_bits, noise.take)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build server B around ``settings`` (default: the environment, read once)."""
    settings = settings or get_settings()
    noise = NoisePoolCache(
        settings.noise_pool_size, settings.noise_pool_keys, settings.noise_scheme
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        noise.start()
        try:
            yield
        finally:
            noise.stop()

    app = FastAPIOffline(  # Swagger UI and ReDoc from local assets: /docs works offline
        title="hrmon server B (key cloud)",
        version="1",
        lifespan=lifespan,
        description="Holds SK2; answers blinded packs from server A only.",
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_metrics(app, "hrmon_b", settings.metrics_token)
    app.include_router(health.router)
    app.include_router(
        comparison_router(comparison_mode(settings, noise), settings.ab_secret, noise.foreground)
    )
    return app
