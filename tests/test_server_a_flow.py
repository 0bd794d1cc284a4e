"""Server A wired to server B in memory: the whole private flow, exact bits and tally."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from protocol.ciphertext import decode_ciphertext, encode_ciphertext
from protocol.encoding import to_zn
from protocol.messages import CompareRequest, CompareResponse, PackAnswer
from protocol.paillier import PublicKey, decrypt, encrypt
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
    other_physician_key,
    patient_with_range,
    sign_in,
    wait_until_decided,
)

if TYPE_CHECKING:
    from tests.servers import Stack

pytest_plugins = ["tests.servers"]
pytestmark = pytest.mark.anyio
LOW, HIGH, THRESHOLD = 600, 1000, 5000


async def test_grid_around_every_bound_gives_exact_bits_and_tally(stack: Stack) -> None:
    pk, _, _ = system_key()
    pk_d, sk_d = physician_key()
    token = await sign_in(stack, "dr.grid", pk_d)
    patient_id, device = await new_patient(stack, token)
    rng = range_body(pk, LOW, HIGH, THRESHOLD)
    assert (
        await stack.client.put(f"/v1/patients/{patient_id}/range", json=rng, headers=bearer(token))
    ).status_code == 200
    heart_rates = [*range(LOW - 2, LOW + 2), 800, *range(HIGH - 1, HIGH + 3)]
    scores = [THRESHOLD - 1, THRESHOLD, THRESHOLD + 1]
    values = list(itertools.product(heart_rates, scores))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sent = {}
    for i, (hr, score) in enumerate(values):
        body = reading_body(pk, hr, score, start + timedelta(minutes=i))
        response = await stack.client.post("/v1/readings", json=body, headers=bearer(device))
        assert response.status_code == 202, response.text
        assert response.json() == {"reading_id": body["reading_id"], "status": "stored"}
        sent[body["reading_id"]] = (hr, score, i)
    results = await wait_until_decided(stack.client, token, patient_id, len(values))
    assert [r["taken_at"] for r in results] == sorted(
        (r["taken_at"] for r in results), reverse=True
    )
    got = {r["reading_id"]: decrypt_result(r["result"]) for r in results}
    assert got == {
        rid: expected_bit(hr, s, LOW, HIGH, THRESHOLD) for rid, (hr, s, _) in sent.items()
    }
    assert set(got.values()) == {0, 1}

    tally = (
        await stack.client.get(f"/v1/patients/{patient_id}/tally", headers=bearer(token))
    ).json()
    assert tally["count"] == len(values)
    assert decrypt(sk_d, decode_ciphertext(pk_d, tally["tally"])) == sum(got.values())
    window = {
        "since": (start + timedelta(minutes=3)).isoformat(),
        "until": (start + timedelta(minutes=8)).isoformat(),
    }
    tally = (
        await stack.client.get(
            f"/v1/patients/{patient_id}/tally", params=window, headers=bearer(token)
        )
    ).json()
    in_window = [rid for rid, (_, _, i) in sent.items() if 3 <= i <= 8]
    assert tally["count"] == len(in_window)
    assert decrypt(sk_d, decode_ciphertext(pk_d, tally["tally"])) == sum(got[r] for r in in_window)

    listing = (await stack.client.get("/v1/patients", headers=bearer(token))).json()
    assert [(p["patient_id"], p["has_range"]) for p in listing] == [(patient_id, True)]
    assert listing[0]["latest"]["taken_at"] == results[0]["taken_at"]


async def test_readings_wait_for_a_range_then_are_decided(stack: Stack) -> None:
    pk, _, _ = system_key()
    token = await sign_in(stack, "dr.later", physician_key()[0])
    patient_id, device = await new_patient(stack, token)
    body = reading_body(pk, 1200, 100)
    assert (
        await stack.client.post("/v1/readings", json=body, headers=bearer(device))
    ).status_code == 202
    await asyncio.sleep(0.2)
    pending = (
        await stack.client.get(f"/v1/patients/{patient_id}/results", headers=bearer(token))
    ).json()
    assert [r["status"] for r in pending] == ["pending"] and pending[0]["result"] is None
    empty = (
        await stack.client.get(f"/v1/patients/{patient_id}/tally", headers=bearer(token))
    ).json()
    assert empty["count"] == 0 and empty["tally"] is None
    await stack.client.put(
        f"/v1/patients/{patient_id}/range",
        json=range_body(pk, LOW, HIGH, THRESHOLD),
        headers=bearer(token),
    )
    (result,) = await wait_until_decided(stack.client, token, patient_id, 1)
    assert decrypt_result(result["result"]) == 1


async def test_score_only_readings_skip_the_range_and_older_devices_keep_it(
    stack: Stack,
) -> None:
    """A reading without a heart rate (E(m = 1), E(hr = 0)) is judged on its score alone;
    a body without the flag, from a device older than it, is range-checked as before."""
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, "dr.short")
    start = datetime(2026, 2, 1, tzinfo=UTC)
    cases = [  # (hr, score, flag, abnormal); hr 0 would be "too slow" were it checked
        (0, 100, 1, 0),
        (0, THRESHOLD, 1, 1),
        (1200, 100, None, 1),
        (720, 100, None, 0),
    ]
    sent = {}
    for i, (hr, score, flag, abnormal) in enumerate(cases):
        body = reading_body(pk, hr, score, start + timedelta(minutes=i), rate_missing=flag)
        assert ("rate_missing" in body) is (flag is not None)
        response = await stack.client.post("/v1/readings", json=body, headers=bearer(device))
        assert response.status_code == 202, response.text
        sent[body["reading_id"]] = abnormal
    results = await wait_until_decided(stack.client, token, patient_id, len(cases))
    assert {r["reading_id"]: decrypt_result(r["result"]) for r in results} == sent


async def test_malicious_value_is_isolated_and_marked_invalid(stack: Stack) -> None:
    """A device encrypting a huge value spoils only its own reading (guard bits)."""
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, "dr.guard")
    stack.b.down = True  # hold B so that the readings are packed together
    honest = [(800, 10), (599, 10), (1001, 10)]
    bodies = [reading_body(pk, hr, s) for hr, s in honest]
    bad = reading_body(pk, to_zn(2**200, pk.n), 10)
    for body in [bodies[0], bad, *bodies[1:]]:
        assert (
            await stack.client.post("/v1/readings", json=body, headers=bearer(device))
        ).status_code == 202
    stack.b.down = False
    results = {
        r["reading_id"]: r for r in await wait_until_decided(stack.client, token, patient_id, 4)
    }
    assert results[bad["reading_id"]]["status"] == "invalid"
    assert results[bad["reading_id"]]["result"] is None
    for body, (hr, s) in zip(bodies, honest, strict=True):
        assert decrypt_result(results[body["reading_id"]]["result"]) == expected_bit(
            hr, s, LOW, HIGH, THRESHOLD
        )


async def test_server_b_down_keeps_readings_pending_then_retries(stack: Stack) -> None:
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, "dr.retry")
    stack.b.down = True
    body = reading_body(pk, 800, 9000)
    assert (
        await stack.client.post("/v1/readings", json=body, headers=bearer(device))
    ).status_code == 202
    while not stack.services.worker.backing_off:
        await asyncio.sleep(0.01)
    pending = (
        await stack.client.get(f"/v1/patients/{patient_id}/results", headers=bearer(token))
    ).json()
    assert pending[0]["status"] == "pending"
    stack.b.down = False
    (result,) = await wait_until_decided(stack.client, token, patient_id, 1)
    assert decrypt_result(result["result"]) == 1


async def test_readings_of_two_physicians_share_one_request_to_b(stack: Stack) -> None:
    """Packs from two patients of two physicians travel to B in one CompareRequest."""
    pk, _, _ = system_key()
    keys = {"dr.one": physician_key(), "dr.two": other_physician_key()}
    patients = {}
    for username, (pk_d, _) in keys.items():
        token = await sign_in(stack, username, pk_d)
        patient_id, device = await new_patient(stack, token)
        await stack.client.put(
            f"/v1/patients/{patient_id}/range",
            json=range_body(pk, LOW, HIGH, THRESHOLD),
            headers=bearer(token),
        )
        patients[username] = (token, patient_id, device)
    stack.b.down = True
    sent = {}
    for username, (_, _, device) in patients.items():
        for hr in (LOW - 1, 800, HIGH + 1):
            body = reading_body(pk, hr, 10)
            assert (
                await stack.client.post("/v1/readings", json=body, headers=bearer(device))
            ).status_code == 202
            sent[body["reading_id"]] = (username, hr)
    worker = stack.services.worker
    while not (worker.backing_off and worker.in_flight == 0):  # the retry takes all six
        await asyncio.sleep(0.01)
    stack.b.bodies.clear()
    stack.b.down = False
    for username, (token, patient_id, _) in patients.items():
        pk_d, sk_d = keys[username]
        for result in await wait_until_decided(stack.client, token, patient_id, 3):
            owner, hr = sent[result["reading_id"]]
            assert owner == username
            assert decrypt(sk_d, decode_ciphertext(pk_d, result["result"])) == expected_bit(
                hr, 10, LOW, HIGH, THRESHOLD
            )
    mixed = [
        json.loads(body)
        for body in stack.b.bodies
        if len(json.loads(body).get("physician_keys", [])) == 2  # a CompareRequest
    ]
    assert mixed, "no request carried packs for both physicians"


def _all_normal(body: bytes) -> bytes:
    """An impostor on B's URL: Enc_pkD(0) for every reading (pk_D is public)."""
    request = CompareRequest.model_validate_json(body)
    keys = {k.key_id: PublicKey(int(k.n, 16)) for k in request.physician_keys}
    packs = [
        PackAnswer(
            status="ok",
            answers=[
                encode_ciphertext(keys[r.physician_key_id], encrypt(keys[r.physician_key_id], 0))
                for r in pack.readings
            ],
        )
        for pack in request.packs
    ]
    return CompareResponse(packs=packs).model_dump_json().encode()


async def _abnormal_reading_while(stack: Stack, name: str) -> tuple[str, str]:
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, name)
    body = reading_body(pk, 2500, 10)  # 250 bpm: abnormal
    response = await stack.client.post("/v1/readings", json=body, headers=bearer(device))
    assert response.status_code == 202
    worker = stack.services.worker
    while not worker.backing_off:  # A refused the answer and waits to retry
        await asyncio.sleep(0.01)
    results = (
        await stack.client.get(f"/v1/patients/{patient_id}/results", headers=bearer(token))
    ).json()
    assert [r["status"] for r in results] == ["pending"]
    return token, patient_id


async def test_an_impostor_answering_normal_for_everything_is_refused(stack: Stack) -> None:
    """Security round 2, item 3: anything on A's B URL could answer Enc_pkD(0) for every
    reading, and a 250 bpm reading decrypted to normal. B's answers are signed now."""
    stack.b.impostor = _all_normal
    token, patient_id = await _abnormal_reading_while(stack, "dr.impostor")
    stack.b.impostor = None
    (result,) = await wait_until_decided(stack.client, token, patient_id, 1)
    assert decrypt_result(result["result"]) == 1


async def test_a_replayed_answer_of_b_is_refused(stack: Stack) -> None:
    """A genuine, signed answer of B recorded earlier is not an answer to a new request."""
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, "dr.replay")
    normal = reading_body(pk, 800, 10)
    await stack.client.post("/v1/readings", json=normal, headers=bearer(device))
    await wait_until_decided(stack.client, token, patient_id, 1)  # B's answer: "normal"
    stack.b.replay = True
    token, patient_id = await _abnormal_reading_while(stack, "dr.replay2")
    stack.b.replay = False
    (result,) = await wait_until_decided(stack.client, token, patient_id, 1)
    assert decrypt_result(result["result"]) == 1


async def test_a_device_cannot_read_the_outcome_of_its_own_readings(stack: Stack) -> None:
    """Security round 2, item 1: a device sent an out-of-bound score and replayed the
    reading id; the answer said ``invalid`` or ``done``, and how often each came back told
    tau apart (20/300 against 2/300). Now every answer, first or replay, says "stored"."""
    pk, _, _ = system_key()
    token, patient_id, device = await patient_with_range(stack, "dr.oracle")
    probes = [reading_body(pk, 800, 10), reading_body(pk, 800, to_zn(2**200, pk.n))]
    first = [
        (await stack.client.post("/v1/readings", json=b, headers=bearer(device))).json()
        for b in probes
    ]
    results = await wait_until_decided(stack.client, token, patient_id, 2)
    assert sorted(r["status"] for r in results) == ["done", "invalid"]  # the physician sees it
    replays = [
        await stack.client.post("/v1/readings", json=b, headers=bearer(device)) for b in probes
    ]
    assert [r.status_code for r in replays] == [200, 200]
    assert [a["status"] for a in first] == [r.json()["status"] for r in replays] == ["stored"] * 2
