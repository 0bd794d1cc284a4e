"""Server-sent events: a physician's stream of newly decided results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from server_a.api.deps import CurrentPhysician, ServicesDep

router = APIRouter(tags=["events"])
KEEPALIVE_S = 15.0


@router.get("/v1/events", response_class=StreamingResponse)
async def events(physician: CurrentPhysician, services: ServicesDep) -> StreamingResponse:
    """``text/event-stream``: event ``result`` with ResultOut JSON, own patients only."""
    broadcaster = services.broadcaster
    physician_id = physician.id

    async def stream() -> AsyncIterator[str]:
        with broadcaster.subscribe(physician_id) as queue:
            yield ": connected\n\n"
            while True:
                try:  # asyncio.timeout: wait_for can swallow a cancel on 3.11 (gh-86296)
                    async with asyncio.timeout(KEEPALIVE_S):
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
