"""Pytest fixtures for the service tests (load with ``pytest_plugins = ["tests.servers"]``):
key directories, apps wired in memory, real server processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops.launcher import write_key_dir
from server_a.app import create_app as create_a_app
from server_a.core.config import Settings as ASettings
from server_a.services import Services
from server_b.app import create_app as create_b_app
from server_b.core.config import Settings as BSettings
from tests.conftest import system_key


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A complete key directory around the session's cached test-size system key."""
    return write_key_dir(tmp_path / "keys", system=system_key())


class RecordingB:
    """Server B's app behind a recorder of every request body and answer, with an off
    switch and two attacks: ``impostor`` (a function of the request body answering in
    B's place, unsigned) and ``replay`` (send back B's previous answer, signature and all).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[bytes] = []
        self.answers: list[tuple[list[tuple[bytes, bytes]], bytes]] = []
        self.down = False
        self.impostor: Callable[[bytes], bytes] | None = None
        self.replay = False

    async def _answer(self, send: Send, status: int, headers: list[Any], body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.down:
            await self._answer(send, 503, [], b"down for a test")
            return
        if scope["type"] == "http" and self.replay and self.answers:
            headers, body = self.answers[-1]
            await self._answer(send, 200, headers, body)
            return
        if scope["type"] == "http" and self.impostor is not None:
            message = await receive()
            forged = self.impostor(message.get("body", b""))
            await self._answer(send, 200, [(b"content-type", b"application/json")], forged)
            return
        chunks: list[bytes] = []
        started: list[Message] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)
            elif (
                message["type"] == "http.response.body"
                and started
                and started[0]["status"] == 200
                and not message.get("more_body")
            ):
                self.answers.append((list(started[0]["headers"]), message.get("body", b"")))
            await send(message)

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.bodies.append(b"".join(chunks))
            return message

        await self.app(scope, recording_receive, recording_send)


@dataclass
class Stack:
    """Server A wired to server B in memory, as a client sees A."""

    client: httpx.AsyncClient
    app: FastAPI
    b: RecordingB
    key_dir: Path
    database_url: str

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


def a_settings(key_dir: Path, database_url: str, **overrides: object) -> ASettings:
    values: dict[str, object] = {
        "key_dir": key_dir,
        "database_url": database_url,
        "allow_insecure_test_keys": True,
        "server_b_url": "http://b",
        "noise_pool_size": 0,
        "crypto_processes": 0,
        "batch_wait_ms": 0,
        "poll_interval_s": 0.05,
        "retry_base_s": 0.02,
        "retry_cap_s": 0.2,
        **overrides,
    }
    return ASettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def in_memory_stack(
    key_dir: Path, database_url: str, **overrides: object
) -> AsyncIterator[Stack]:
    """Server A (lifespan run: migrations, worker) talking to server B via ASGITransport."""
    b_app = create_b_app(
        BSettings(key_dir=key_dir, allow_insecure_test_keys=True, noise_pool_size=0)
    )
    recording = RecordingB(b_app)
    app = create_a_app(
        a_settings(key_dir, database_url, **overrides),
        b_transport=httpx.ASGITransport(app=recording),
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client,
    ):
        yield Stack(client, app, recording, key_dir, database_url)


@pytest.fixture
async def stack(key_dir: Path, database_url: str) -> AsyncIterator[Stack]:
    """Runs once on SQLite and once on PostgreSQL (``database_url`` in tests/conftest.py)."""
    async with in_memory_stack(key_dir, database_url) as s:
        yield s
