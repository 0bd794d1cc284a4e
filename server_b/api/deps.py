"""Dependencies of B's routes, as ``Annotated`` aliases (FastAPI full-stack template style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from server_b.core.config import Settings
from service_common.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class SignedRequest:
    """A request's raw body and A's signature of it (B's answer is bound to the latter)."""

    body: bytes
    signature: str


async def signed_request(request: Request, settings: SettingsDep) -> SignedRequest:
    """The raw body, once its HMAC from server A checks out (401 otherwise)."""
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
    return SignedRequest(body, str(request.headers[SIGNATURE_HEADER]))


Signed = Annotated[SignedRequest, Depends(signed_request)]
"""A request server A signed: every comparison route takes one."""
