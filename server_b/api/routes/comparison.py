"""The routes of B's comparison mode, each behind A's signature, all built the same way.

Every route of ``mode.routes`` (``protocol.modes``) becomes a signed ``POST``: the body
is parsed into the route's message (422 with pydantic's field errors), the handler runs
off the event loop (``/healthz`` stays responsive under load) and a
:class:`~protocol.transport.FieldError` becomes a 422 naming the field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ValidationError

from protocol.modes.base import ModeB
from protocol.transport import FieldError, Route
from server_b.api.deps import SignedBody
from service_common.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER


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


def _endpoint(route: Route) -> Callable[[bytes], Awaitable[BaseModel]]:
    async def endpoint(body: SignedBody) -> BaseModel:
        try:
            request = route.request_type.model_validate_json(body)
        except ValidationError as exc:
            raise _unprocessable(
                exc.errors(include_url=False, include_input=False, include_context=False)
            ) from None
        try:
            return await asyncio.to_thread(route.handler, request)
        except FieldError as exc:
            raise _unprocessable(str(exc)) from None

    endpoint.__doc__ = route.handler.__doc__
    return endpoint


def comparison_router(mode: ModeB) -> APIRouter:
    """One signed ``POST`` per route of ``mode``."""
    router = APIRouter(tags=[f"comparison ({mode.name})"])
    for route in mode.routes.values():
        router.add_api_route(
            route.path,
            _endpoint(route),
            methods=["POST"],
            response_model=route.response_type,
            openapi_extra=_openapi(route),
        )
    return router
