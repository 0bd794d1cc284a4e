"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from protocol.paillier import key_id
from server_b.api.deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(settings: SettingsDep) -> dict[str, str]:
    """The share is loaded before the app exists: if this answers, B is ready."""
    return {"status": "ready", "system_key_id": key_id(settings.share.public_key)}
