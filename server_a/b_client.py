"""Server A's way to B: each call a signed HTTP POST (``protocol.transport.Transport``)."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ValidationError

from protocol.transport import PeerError, Response
from service_common.signing import signature_headers


class HttpTransport:
    """POSTs a mode's messages to B, signed with the A-B secret.

    Args:
        base_url: server B.
        ab_secret: the HMAC key.
        timeout_s: per call; a slow B counts as unavailable.
        transport: httpx transport (tests: ``httpx.ASGITransport``; metrics wrap it).
    """

    def __init__(
        self,
        base_url: str,
        ab_secret: bytes,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret = ab_secret
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=timeout_s,
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60),
        )

    async def call(self, route: str, request: BaseModel, response_type: type[Response]) -> Response:
        """B's answer.

        Raises:
            PeerError: B is down, slow, refused the call or answered nonsense.
        """
        body = request.model_dump_json().encode()
        headers = {"content-type": "application/json"}
        headers.update(signature_headers(self._secret, body))
        try:
            response = await self._http.post(route, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PeerError(type(exc).__name__) from None
        if response.status_code != 200:
            raise PeerError(f"{route}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response_type.model_validate_json(response.content)
        except ValidationError:
            raise PeerError(f"{route}: malformed {response_type.__name__}") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
