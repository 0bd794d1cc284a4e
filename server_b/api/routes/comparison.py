"""The routes of B's comparison mode, each behind A's signature, all built the same way.

Every route of ``mode.routes`` (``protocol.modes``) becomes a signed ``POST``: the body
is parsed into the route's message (422 with pydantic's field errors), the handler runs
off the event loop (``/healthz`` stays responsive under load), a
:class:`~protocol.transport.FieldError` becomes a 422 naming the field, and the answer
is signed for this very request (``service_common.signing.sign_response``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import ValidationError

from protocol.modes.base import ModeB
from protocol.transport import FieldError, Route
from server_b.api.deps import Signed, SignedRequest
from service_common.responses import errors
from service_common.signing import (
    RESPONSE_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_response,
)


def _unprocessable(detail: object) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def _openapi(route: Route) -> dict[str, Any]:
    """The body schema and signature headers (the body is read raw, so declared here)."""
    header = {"in": "header", "required": True, "schema": {"type": "string"}}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": route.request_type.model_json_schema()}},
        },
        "parameters": [
            {"name": TIMESTAMP_HEADER, **header},
            {"name": SIGNATURE_HEADER, **header},
        ],
    }


Foreground = Callable[[], AbstractContextManager[None]]
"""Marks a handler's run as work the noise filler defers to
(``service_common.noise.NoisePoolCache.foreground``)."""


def _endpoint(
    route: Route, secret: bytes, foreground: Foreground
) -> Callable[[SignedRequest], Awaitable[Response]]:
    async def endpoint(signed: Signed) -> Response:
        try:
            request = route.request_type.model_validate_json(signed.body)
        except ValidationError as exc:
            raise _unprocessable(
                exc.errors(include_url=False, include_input=False, include_context=False)
            ) from None
        try:
            with foreground():
                answer = await asyncio.to_thread(route.handler, request)
        except FieldError as exc:
            raise _unprocessable(str(exc)) from None
        content = answer.model_dump_json().encode()
        signature = sign_response(secret, signed.signature, content)
        return Response(
            content,
            media_type="application/json",
            headers={RESPONSE_SIGNATURE_HEADER: signature},
        )

    endpoint.__doc__ = route.handler.__doc__
    # the metrics label each route by its handler's name: "endpoint" for all hid which
    # call of A's takes the time
    endpoint.__name__ = endpoint.__qualname__ = getattr(route.handler, "__name__", "endpoint")
    return endpoint


def comparison_router(mode: ModeB, secret: bytes, foreground: Foreground) -> APIRouter:
    """One signed ``POST`` per route of ``mode``, answers signed with ``secret``; each
    handler runs in ``foreground``."""
    router = APIRouter(tags=[f"comparison ({mode.name})"])
    for route in mode.routes.values():
        router.add_api_route(
            route.path,
            _endpoint(route, secret, foreground),
            methods=["POST"],
            response_model=route.response_type,
            responses=errors(401, 413, 422),
            openapi_extra=_openapi(route),
        )
    return router
