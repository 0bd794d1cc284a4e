"""Mutual TLS between A and B (``hrmon setup --tls``, ``HRMON_A_TLS``/``HRMON_B_TLS``):
the whole flow over real processes, and B refusing anyone without a certificate of the
setup CA (Security round 2, item 3)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from ops.launcher import launch_servers, write_key_dir
from protocol.paillier import generate_keypair
from service_common.tls import TLS_A_CERT, TLS_A_KEY, TLS_CA, TlsFiles, write_tls_files
from tests.e2e_support import run_two_physicians
from tests.service_helpers import physician_key, system_key

pytestmark = pytest.mark.slow


def test_the_flow_runs_over_mutual_tls_and_b_refuses_strangers(tmp_path: Path) -> None:
    key_dir = write_key_dir(tmp_path / "keys", system=system_key())
    write_tls_files(key_dir)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    write_tls_files(stranger)  # a CA and an "A" certificate of someone else
    with launch_servers(
        key_dir,
        database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}",
        log_dir=tmp_path / "logs",
        insecure_test_keys=True,
        tls=True,
    ) as servers:
        assert servers.b_url.startswith("https://")
        physicians = {"dr.a": physician_key(), "dr.b": generate_keypair(1024)}
        run_two_physicians(servers, key_dir, system_key()[0], physicians, False)
        b = servers.b_url
        plain = b.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/healthz", timeout=5)  # B speaks TLS only
        ca_only = ssl.create_default_context(cafile=str(key_dir / TLS_CA))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{b}/healthz", verify=ca_only, timeout=5)  # no client certificate
        other = TlsFiles(key_dir / TLS_CA, stranger / TLS_A_CERT, stranger / TLS_A_KEY)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{b}/healthz", verify=other.client_context(), timeout=5)
        ours = TlsFiles(key_dir / TLS_CA, key_dir / TLS_A_CERT, key_dir / TLS_A_KEY)
        assert httpx.get(f"{b}/healthz", verify=ours.client_context(), timeout=5).status_code == 200
