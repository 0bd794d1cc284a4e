"""End to end: server A and server B as real uvicorn processes on loopback.

Two physicians, a patient each; readings below/inside/above the range and scores
below/at/above the threshold around every bound, batched across both patients; the
physicians decrypt exactly the right bits, and each event stream carries only its own
physician's results. One run at 2048-bit keys without the insecure-test-keys switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.launcher import LocalServers, launch_servers, write_key_dir
from protocol.paillier import generate_keypair
from tests.e2e_support import run_two_physicians
from tests.service_helpers import (
    physician_key,
    system_key,
)


@pytest.fixture(scope="module")
def servers_1024(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServers, Path]]:
    """Both servers drawing their noise by short exponents (the 2048-bit run below keeps
    the default, full-size r^N): the exact bits hold under either setting."""
    root = tmp_path_factory.mktemp("e2e1024")
    key_dir = write_key_dir(root / "keys", system=system_key())
    with launch_servers(
        key_dir,
        database_url=f"sqlite:///{root / 'a.sqlite3'}",
        log_dir=root / "logs",
        insecure_test_keys=True,
        env={"HRMON_NOISE_SCHEME": "djn"},
    ) as servers:
        yield servers, key_dir


@pytest.mark.slow
def test_two_physicians_exact_bits_and_own_events_1024(
    servers_1024: tuple[LocalServers, Path],
) -> None:
    servers, key_dir = servers_1024
    other = generate_keypair(1024)
    run_two_physicians(
        servers,
        key_dir,
        system_key()[0],
        {"dr.a": physician_key(), "dr.b": other},
        stop_b_while_submitting=True,
    )


@pytest.mark.slow
def test_two_physicians_exact_bits_at_2048_bits(tmp_path: Path) -> None:
    """Real key sizes, no insecure switch: the services accept them and the bits are right."""
    pk, share_a, share_b = system_key(2048)
    key_dir = write_key_dir(tmp_path / "keys", system=(pk, share_a, share_b))
    with launch_servers(
        key_dir, database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", log_dir=tmp_path / "logs"
    ) as servers:
        run_two_physicians(
            servers,
            key_dir,
            pk,
            {"dr.a": physician_key(2048), "dr.b": generate_keypair(2048)},
            stop_b_while_submitting=False,
        )


def test_server_refuses_small_keys_without_the_test_switch(tmp_path: Path) -> None:
    from ops.launcher import LaunchError

    key_dir = write_key_dir(tmp_path / "keys", system=system_key())
    with (
        pytest.raises(LaunchError, match="under 2048"),
        launch_servers(key_dir, database_url=f"sqlite:///{tmp_path / 'a.db'}", ready_timeout_s=30),
    ):
        pass
