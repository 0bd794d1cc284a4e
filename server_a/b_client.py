"""Server A's way to B: each call a signed HTTP POST (``protocol.transport.Transport``),
each answer accepted only with B's signature for that very request."""

from __future__ import annotations

import itertools
import ssl

import httpx
from pydantic import BaseModel, ValidationError

from protocol.transport import PeerError, Response
from service_common.signing import (
    RESPONSE_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    signature_headers,
    verify_response,
)


class HttpTransport:
    """POSTs a mode's messages to B, signed with the A-B secret.

    Several B replicas (``base_url`` a comma-separated list) are used in turn, call by
    call: nothing in the protocol needs two calls to reach the same B
    (``protocol.sealed_share``), so any replica answers any call.

    Args:
        base_url: server B, or its replicas separated by commas.
        ab_secret: the HMAC key.
        timeout_s: per call; a slow B counts as unavailable.
        transport: :func:`b_transport`, or ``httpx.ASGITransport`` in tests (metrics wrap
            either).
    """

    def __init__(
        self,
        base_url: str,
        ab_secret: bytes,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport,
    ) -> None:
        self._secret = ab_secret
        self._replicas = b_replicas(base_url)
        self._turn = itertools.count()
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    async def call(self, route: str, request: BaseModel, response_type: type[Response]) -> Response:
        """B's answer.

        Raises:
            PeerError: B is down, slow, refused the call or answered nonsense.
        """
        body = request.model_dump_json().encode()
        signed = signature_headers(self._secret, body)
        headers = {"content-type": "application/json", **signed}
        try:
            replica = self._replicas[next(self._turn) % len(self._replicas)]
            response = await self._http.post(replica + route, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PeerError(type(exc).__name__) from None
        if response.status_code != 200:
            raise PeerError(f"{route}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            verify_response(
                self._secret,
                signed[SIGNATURE_HEADER],
                response.headers.get(RESPONSE_SIGNATURE_HEADER),
                response.content,
            )
        except SignatureError as exc:  # an impostor, or a replayed answer
            raise PeerError(f"{route}: {exc}") from None
        try:
            return response_type.model_validate_json(response.content)
        except ValidationError:
            raise PeerError(f"{route}: malformed {response_type.__name__}") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def b_replicas(urls: str) -> list[str]:
    """The B URLs of a comma-separated list, without trailing slashes.

    Raises:
        ValueError: the list is empty or an entry is not an http(s) URL.
    """
    replicas = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
    if not replicas or not all(u.startswith(("http://", "https://")) for u in replicas):
        raise ValueError("server_b_url: one or more http(s) URLs separated by commas")
    return replicas


def b_transport(tls: ssl.SSLContext | None) -> httpx.AsyncHTTPTransport:
    """The connection pool to B: kept alive, and with mutual TLS when ``tls`` is given
    (B's certificate checked against the setup CA, A's client certificate presented)."""
    keep_alive = httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60)
    return httpx.AsyncHTTPTransport(limits=keep_alive, verify=tls if tls is not None else True)
