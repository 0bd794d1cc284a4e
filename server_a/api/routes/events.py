"""Server-sent events: a physician's stream of newly decided results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from server_a.api.deps import CurrentAccess, CurrentPhysician, ServicesDep
from service_common.responses import errors

router = APIRouter(tags=["events"])
KEEPALIVE_S = 15.0


@router.get("/v1/events", response_class=StreamingResponse, responses=errors(401))
async def events(
    physician: CurrentPhysician, access: CurrentAccess, services: ServicesDep
) -> StreamingResponse:
    """``text/event-stream``: event ``result`` with ResultOut JSON, own patients only.

    The stream ends with an ``expired`` event when the access token does: a token is
    checked once, at the start, and must not keep a stream alive past its ``exp``.
    """
    broadcaster = services.broadcaster
    physician_id = physician.id

    async def stream() -> AsyncIterator[str]:
        with broadcaster.subscribe(physician_id) as queue:
            yield ": connected\n\n"
            while True:
                left = access.expires_at - time.time()
                if left <= 0:
                    yield "event: expired\ndata: {}\n\n"
                    return
                try:  # asyncio.timeout: wait_for can swallow a cancel on 3.11 (gh-86296)
                    async with asyncio.timeout(min(KEEPALIVE_S, left)):
                        result = await queue.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                data = result.model_dump_json()
                yield f"event: result\nid: {result.reading_id}\ndata: {data}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
