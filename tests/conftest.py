"""Shared fixtures: keys are slow to make, so each size is made once per session."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.keys import KeyShare, generate_system_key
from protocol.paillier import PrivateKey, PublicKey, generate_keypair
from tests.postgres import PostgresUnavailable, running_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "protocol",
    "service_common",
    "server_a",
    "server_b",
    "signals",
    "client",
    "device",
    "physician",
    "ops",
    "evaluation",
    "model",
    "bench",
    "cli_help",
)
"""The project's top-level packages (lint, types and the import graph cover these)."""
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_KEY_BITS = 1152  # tests only (2 readings of 4 checks per pack); services refuse < 2048


@functools.cache
def system_key(bits: int = TEST_KEY_BITS) -> tuple[PublicKey, KeyShare, KeyShare]:
    return generate_system_key(bits)


@functools.cache
def physician_key(bits: int = TEST_KEY_BITS) -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(bits)


@pytest.fixture(scope="session")
def system_keys() -> tuple[PublicKey, KeyShare, KeyShare]:
    return system_key()


@pytest.fixture(scope="session")
def physician_keys() -> tuple[PublicKey, PrivateKey]:
    return physician_key()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: a visible skip where this checkout has none, a failure under CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared data set at {SHARED_DATA}")
        pytest.skip(f"needs the shared data set at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this session. Fails under CI if it cannot start."""
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the session's PostgreSQL server; its URL."""
    import secrets

    import sqlalchemy as sa

    name = f"t_{secrets.token_hex(6)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Server A's database, once per engine: a fresh SQLite file, then a fresh PostgreSQL
    database on the session's real server (fails under CI if PostgreSQL cannot start)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a.sqlite3'}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_url"))
