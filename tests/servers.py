"""Pytest fixtures for the service tests (load with ``pytest_plugins = ["tests.servers"]``):
key directories, apps wired in memory, real server processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.launcher import write_key_dir
from tests.conftest import system_key


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A complete key directory around the session's cached 1024-bit system key."""
    return write_key_dir(tmp_path / "keys", system=system_key())
