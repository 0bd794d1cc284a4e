"""Both servers in zero-leakage mode (HRMON_COMPARISON_MODE=zero-leakage): in memory over
the real HTTP stack, and end to end as real uvicorn processes."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import ValidationError

from bench.zero_leakage import dgk_key_for
from ops.launcher import launch_servers, write_key_dir
from protocol.encoding import to_zn
from server_b.app import create_app as create_b_app
from server_b.core.config import Settings as BSettings
from service_common.key_dir import DGK_SECRET, write_dgk_key_files
from service_common.signing import signature_headers
from tests.e2e_support import run_two_physicians
from tests.service_helpers import (
    bearer,
    expected_bit,
    physician_key,
    range_body,
    reading_body,
    system_key,
)
from tests.stack_helpers import (
    decrypt_result,
    new_patient,
    patient_with_range,
    sign_in,
    wait_until_decided,
)

if TYPE_CHECKING:
    from tests.servers import Stack

pytest_plugins = ["tests.servers"]
LOW, HIGH, THRESHOLD = 600, 1000, 5000


@pytest.fixture
def zl_key_dir(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_dgk_key_files(key_dir, dgk_key_for(1024))
    monkeypatch.setenv("HRMON_COMPARISON_MODE", "zero-leakage")
    return key_dir


async def _submit(
    stack: Stack, pk_d_name: str, values: list[tuple[int, int]]
) -> tuple[str, str, dict[str, tuple[int, int]]]:
    from tests.service_helpers import system_key

    pk, _, _ = system_key()
    token = await sign_in(stack, pk_d_name, physician_key()[0])
    patient_id, device = await new_patient(stack, token, pk_d_name)
    response = await stack.client.put(
        f"/v1/patients/{patient_id}/range",
        json=range_body(pk, LOW, HIGH, THRESHOLD),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    sent = {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, (hr, score) in enumerate(values):
        body = reading_body(pk, hr, score, start + timedelta(minutes=i))
        response = await stack.client.post("/v1/readings", json=body, headers=bearer(device))
        assert response.status_code == 202, response.text
        sent[body["reading_id"]] = (hr, score)
    return token, patient_id, sent


@pytest.mark.anyio
async def test_in_memory_grid_gives_exact_bits_over_the_two_rounds(
    zl_key_dir: Path, tmp_path: Path
) -> None:
    heart_rates = [LOW - 1, LOW, LOW + 1, 800, HIGH - 1, HIGH, HIGH + 1]
    scores = [THRESHOLD - 1, THRESHOLD, THRESHOLD + 1]
    values = list(itertools.product(heart_rates, scores))
    from tests.servers import in_memory_stack

    async with in_memory_stack(zl_key_dir, f"sqlite:///{tmp_path / 'a.sqlite3'}") as stack:
        token, patient_id, sent = await _submit(stack, "dr.zl", values)
        results = await wait_until_decided(stack.client, token, patient_id, len(values))
        got = {r["reading_id"]: decrypt_result(str(r["result"])) for r in results}
        assert got == {
            rid: expected_bit(hr, s, LOW, HIGH, THRESHOLD) for rid, (hr, s) in sent.items()
        }
        assert set(got.values()) == {0, 1}
        kinds = [sorted(json.loads(body)) for body in stack.b.bodies]
        assert ["dgk_key_id", "packs", "system_key_id"] in kinds  # round 1
        assert ["dgk_key_id", "physician_keys", "readings"] in kinds  # round 2
        assert ["packs", "physician_keys", "system_key_id"] not in kinds  # no baseline call


@pytest.mark.anyio
async def test_garbage_reading_is_isolated_and_marked_invalid(
    zl_key_dir: Path, tmp_path: Path
) -> None:
    from tests.service_helpers import system_key

    pk = system_key()[0]
    values = [(800, 10), (pk.n // 3, 10), (599, 10), (1001, 10)]
    from tests.servers import in_memory_stack

    async with in_memory_stack(zl_key_dir, f"sqlite:///{tmp_path / 'a.sqlite3'}") as stack:
        token, patient_id, sent = await _submit(stack, "dr.bad", values)
        results = await wait_until_decided(stack.client, token, patient_id, len(values))
        status = {r["reading_id"]: r["status"] for r in results}
        for rid, (hr, score) in sent.items():
            if hr == pk.n // 3:
                assert status[rid] == "invalid"
            else:
                result = next(r for r in results if r["reading_id"] == rid)
                assert status[rid] == "done"
                assert decrypt_result(str(result["result"])) == expected_bit(
                    hr, score, LOW, HIGH, THRESHOLD
                )
    assert to_zn(-1, pk.n) == pk.n - 1


@pytest.mark.anyio
async def test_a_crafted_device_cannot_touch_another_patients_bits(
    zl_key_dir: Path, tmp_path: Path
) -> None:
    """Packs hold one patient's readings: hr = 2^200 + 7 carries into the slot above its
    own (tests/test_protocol_zero_leakage.py), which in a mixed pack would be the next
    patient's hr = lo check (x = 2^l - 1, flipped by any carry). Submissions interleave
    the two patients so that a mixed pack would put each victim right above an attacker."""
    from tests.servers import in_memory_stack

    victim_values = [(LOW, 10)] * 4  # d1 = -1: normal, one step from abnormal
    database = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    # a long batch wait gathers the seven submissions after the first into one batch
    async with in_memory_stack(zl_key_dir, database, batch_wait_ms=1000) as stack:
        pk = system_key()[0]
        attacker = await patient_with_range(stack, "dr.x")
        victim = await patient_with_range(stack, "dr.y")
        sent: dict[str, tuple[int, int]] = {}
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i, values in enumerate(victim_values):
            for device, (hr, score) in ((attacker[2], (2**200 + 7, 10)), (victim[2], values)):
                body = reading_body(pk, hr, score, start + timedelta(minutes=i))
                response = await stack.client.post(
                    "/v1/readings", json=body, headers=bearer(device)
                )
                assert response.status_code == 202, response.text
                if device == victim[2]:
                    sent[body["reading_id"]] = (hr, score)
        results = await wait_until_decided(stack.client, victim[0], victim[1], len(sent))
        assert {r["reading_id"]: decrypt_result(str(r["result"])) for r in results} == {
            rid: 0 for rid in sent
        }


def test_b_refuses_to_start_without_its_dgk_key(
    key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HRMON_COMPARISON_MODE", "zero-leakage")
    with pytest.raises(ValidationError, match=DGK_SECRET):
        BSettings(key_dir=key_dir, allow_insecure_test_keys=True)


def test_b_names_the_bad_field_and_serves_only_its_modes_routes(
    zl_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    settings = BSettings(key_dir=zl_key_dir, allow_insecure_test_keys=True, noise_pool_size=0)
    secret = (zl_key_dir / "ab_secret").read_text().strip().encode()
    body = json.dumps(
        {
            "system_key_id": "0" * 16,
            "dgk_key_id": "0" * 16,
            "packs": [{"ciphertext": "AAAA", "pdec1": "AAAA", "slots": 3}],
        }
    ).encode()
    headers = {"content-type": "application/json", **signature_headers(secret, body)}
    with TestClient(create_b_app(settings)) as client:
        response = client.post("/v1/zl/open", content=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["detail"].startswith("system_key_id")
        unsigned = client.post("/v1/zl/answer", content=body)
        assert unsigned.status_code == 401
        assert client.post("/v1/compare", content=body, headers=headers).status_code == 404
    monkeypatch.setenv("HRMON_COMPARISON_MODE", "baseline")  # read when settings are made
    baseline = BSettings(key_dir=zl_key_dir, allow_insecure_test_keys=True, noise_pool_size=0)
    with TestClient(create_b_app(baseline)) as client:
        assert client.post("/v1/zl/open", content=body, headers=headers).status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},  # the defaults: full-size noise, B's partial decryption ahead
        {"HRMON_NOISE_SCHEME": "djn", "HRMON_A_PDEC_AHEAD": "false"},
    ],
    ids=["defaults", "djn-noise-pdec-in-turn"],
)
def test_end_to_end_real_processes_in_zero_leakage_mode(
    tmp_path: Path, options: dict[str, str]
) -> None:
    """Two physicians, a patient each, readings around every bound, batched; both
    servers as real uvicorn processes in zero-leakage mode, under both settings."""
    from tests.service_helpers import system_key

    key_dir = write_key_dir(tmp_path / "keys", system=system_key())
    write_dgk_key_files(key_dir, dgk_key_for(1024))
    from protocol.paillier import generate_keypair

    physicians = {"dr.a": physician_key(), "dr.b": generate_keypair(1024)}
    with launch_servers(
        key_dir,
        database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}",
        log_dir=tmp_path / "logs",
        insecure_test_keys=True,
        env={"HRMON_COMPARISON_MODE": "zero-leakage", **options},
    ) as servers:
        run_two_physicians(servers, key_dir, system_key()[0], physicians, False)
        with httpx.Client(base_url=servers.b_url) as http:
            assert http.post("/v1/zl/open", json={}).status_code == 401  # mounted, signed
