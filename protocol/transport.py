"""How A's half of a comparison mode reaches B's half: one call per route.

A's half (``protocol.modes``) never knows whether B is a process across the network
(``server_a.b_client``: a signed HTTP POST) or an object in the same process
(:class:`InMemoryTransport`, for the bench and the tests). Both speak the same pydantic
messages and raise :class:`PeerError` when B does not answer usefully.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

Response = TypeVar("Response", bound=BaseModel)


class PeerError(Exception):
    """B did not answer usefully: down, slow, refused, or an answer that does not fit."""


class FieldError(ValueError):
    """A request field is wrong (B answers 422); the message starts with the field's path."""


class Transport(Protocol):
    """One request to B's half at ``route``, answered by a ``response_type`` message."""

    async def call(
        self, route: str, request: BaseModel, response_type: type[Response]
    ) -> Response: ...


@dataclass(frozen=True)
class Route:
    """One of B's endpoints: its path, message types and the handler (pure, CPU-bound).

    The handler checks every field before any exponentiation and raises
    :class:`FieldError` naming the first bad one.
    """

    path: str
    request_type: type[BaseModel]
    response_type: type[BaseModel]
    handler: Callable[[Any], BaseModel]


class InMemoryTransport:
    """Calls B's handlers directly, in this thread; counts calls and B's seconds.

    Args:
        routes: B's half (``mode_b.routes``).
    """

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = routes
        self.calls = 0
        self.peer_seconds = 0.0

    async def call(self, route: str, request: BaseModel, response_type: type[Response]) -> Response:
        """B's answer, or :class:`PeerError` as the HTTP transport would raise it."""
        target = self.routes.get(route)
        if target is None:
            raise PeerError(f"{route}: no such route on B")
        if not isinstance(request, target.request_type):
            raise PeerError(f"{route}: expects a {target.request_type.__name__}")
        self.calls += 1
        started = time.perf_counter()
        try:
            response = target.handler(request)
        except FieldError as exc:
            raise PeerError(f"{route}: B refused the request ({exc})") from None
        finally:
            self.peer_seconds += time.perf_counter() - started
        if not isinstance(response, response_type):
            raise PeerError(f"{route}: B answered a {type(response).__name__}")
        return response
