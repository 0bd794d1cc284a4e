"""Liveness, readiness and the system public key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from protocol.messages import SystemKeyOut
from server_a.api.deps import ServicesDep
from service_common.responses import errors

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, responses=errors(503))
def readyz(services: ServicesDep) -> JSONResponse | dict[str, str]:
    """200 when the database answers and the key share is loaded; 503 otherwise."""
    if not services.ready or not services.storage.ping():
        return JSONResponse({"detail": "database unreachable or still starting"}, status_code=503)
    return {"status": "ready"}


@router.get("/v1/system-key")
def system_key(services: ServicesDep) -> SystemKeyOut:
    """The system public key; clients compare ``key_id`` with the one pinned at setup."""
    n: int = services.system_key.n
    return SystemKeyOut(key_id=services.system_key_id, n=hex(n), bits=n.bit_length())
