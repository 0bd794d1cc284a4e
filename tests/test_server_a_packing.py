"""Server A packs one patient's readings per ciphertext, so a crafted device cannot change
another patient's bits (tests/test_protocol_comparison.py shows the attack on a mixed pack)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from protocol import comparison as cmp
from protocol.encoding import to_zn
from protocol.modes.base import Job, pack_groups
from protocol.modes.memory import jobs_for
from protocol.params import DEFAULT_PARAMS
from tests.service_helpers import bearer, physician_key, reading_body, system_key
from tests.stack_helpers import (
    decrypt_result,
    patient_with_range,
    wait_until_decided,
)

if TYPE_CHECKING:
    pass

pytest_plugins = ["tests.servers"]
LOW, HIGH, THRESHOLD = 600, 1000, 5000


def _job(reading_id: str, patient_id: str) -> Job:
    pk_d = physician_key()[0]
    (job,) = jobs_for(
        [cmp.EncryptedReading(1, 1, 1, 1)], cmp.EncryptedBounds(1, 1, 1, 1), pk_d, patient_id
    )
    return Job(reading_id, patient_id, job.reading, job.bounds, job.physician, pk_d)


def test_packs_never_mix_patients_and_isolated_readings_go_alone():
    items = [_job(f"r{i}", f"p{i % 3}") for i in range(10)]
    groups = pack_groups(items, per_pack=2, isolate={"r4"})
    assert all(len({i.patient_id for i in g}) == 1 for g in groups)
    assert all(len(g) <= 2 for g in groups)
    assert [g for g in groups if any(i.reading_id == "r4" for i in g)] == [[items[4]]]
    assert sorted(i.reading_id for g in groups for i in g) == sorted(i.reading_id for i in items)


@pytest.mark.anyio
async def test_a_crafted_device_cannot_touch_another_patients_bits(
    key_dir: Path, tmp_path: Path
) -> None:
    from tests.servers import in_memory_stack

    pk = system_key()[0]
    crafted = (800, to_zn(THRESHOLD - (1 << (DEFAULT_PARAMS.slot_bits - 1)), pk.n))
    database = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    # a long batch wait gathers the submissions after the first (which finds the worker
    # idle and goes alone) into one batch, interleaved so that a mixed pack would put each
    # victim right after an attacker
    async with in_memory_stack(key_dir, database, batch_wait_ms=1000) as stack:
        attacker = await patient_with_range(stack, "dr.x")
        victim = await patient_with_range(stack, "dr.y")
        sent: list[str] = []
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(8):
            for device, (hr, score) in ((attacker[2], crafted), (victim[2], (LOW, 10))):
                body = reading_body(pk, hr, score, start + timedelta(minutes=i))
                response = await stack.client.post(
                    "/v1/readings", json=body, headers=bearer(device)
                )
                assert response.status_code == 202, response.text
                if device == victim[2]:
                    sent.append(body["reading_id"])
        results = await wait_until_decided(stack.client, victim[0], victim[1], len(sent))
        assert {r["reading_id"]: decrypt_result(str(r["result"])) for r in results} == {
            rid: 0 for rid in sent
        }


@pytest.mark.anyio
async def test_a_lone_reading_does_not_wait_for_a_batch_to_gather(
    key_dir: Path, tmp_path: Path
) -> None:
    """The batch wait gathers a burst while the worker is busy; a reading that finds it
    idle goes at once (a wait of minutes here would leave it pending)."""
    from tests.servers import in_memory_stack

    pk = system_key()[0]
    database = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    async with in_memory_stack(key_dir, database) as stack:
        stack.services.worker.settings.batch_wait_ms = 600_000  # past the setting's limit
        token, patient_id, device = await patient_with_range(stack, "dr.x")
        body = reading_body(pk, 800, 10)
        response = await stack.client.post("/v1/readings", json=body, headers=bearer(device))
        assert response.status_code == 202, response.text
        (result,) = await wait_until_decided(stack.client, token, patient_id, 1, timeout=30)
        assert decrypt_result(str(result["result"])) == 0
