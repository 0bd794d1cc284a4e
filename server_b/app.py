"""Server B, the key cloud: holds SK2 and answers packs from server A alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import ValidationError

from protocol.messages import CompareRequest, CompareResponse
from protocol.paillier import key_id
from server_b.compare import FieldError, answer_packs, decode_request
from server_b.core.config import Settings, get_settings
from server_b.zero_leakage_routes import mount_zero_leakage
from service_common.body_limit import BodySizeLimit
from service_common.keyfiles import minimum_key_bits
from service_common.metrics import install_metrics
from service_common.noise import NoisePoolCache
from service_common.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

_COMPARE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CompareRequest.model_json_schema()}},
    },
    "parameters": [
        {"name": TIMESTAMP_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
    ],
}


async def signed_body(request: Request) -> bytes:
    """The raw body, once its HMAC from server A checks out (401 otherwise)."""
    settings: Settings = request.app.state.settings
    body = await request.body()
    try:
        verify(
            settings.ab_secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            max_skew_s=settings.max_clock_skew_s,
        )
    except SignatureError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=str(exc),
            headers={"WWW-Authenticate": 'HMAC realm="hrmon-b"'},
        ) from None
    return body


SignedBody = Annotated[bytes, Depends(signed_body)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build server B around ``settings`` (default: the environment).

    Raises:
        pydantic.ValidationError: a key file is missing or too weak (refuse to start).
    """
    settings = settings or get_settings()
    share = settings.share
    noise = NoisePoolCache(settings.noise_pool_size, settings.noise_pool_keys)
    min_physician_bits = minimum_key_bits(settings.allow_insecure_test_keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        noise.start()
        try:
            yield
        finally:
            noise.stop()

    app = FastAPI(
        title="hrmon server B (key cloud)",
        version="1",
        lifespan=lifespan,
        description="Holds SK2; answers blinded packs from server A only.",
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_metrics(app, "hrmon_b")
    mount_zero_leakage(
        app,
        settings.key_dir,
        settings.allow_insecure_test_keys,
        share,
        min_physician_bits,
        noise.take,
        signed_body,
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        # The share is loaded before the app exists: if this answers, B is ready.
        return {"status": "ready", "system_key_id": key_id(share.public_key)}

    @app.post("/v1/compare", openapi_extra=_COMPARE_OPENAPI)
    async def compare(body: SignedBody) -> CompareResponse:
        """Steps b1-b3 for every pack of a signed ``CompareRequest``."""
        try:
            request = CompareRequest.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=exc.errors(include_url=False, include_input=False, include_context=False),
            ) from None
        try:
            packs = decode_request(request, share, min_physician_bits)
            # Exponentiations off the event loop: /healthz stays responsive under load.
            return await asyncio.to_thread(answer_packs, share, packs, noise.take)
        except FieldError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None

    return app
