"""Server A's guard rails: every bad input gets a clear 4xx and stores nothing; credentials,
ownership, idempotency; the database holds no plaintext; B never sees a device ciphertext."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import sqlalchemy as sa

from protocol.ciphertext import ciphertext_length, encode_ciphertext
from protocol.messages import READING_CIPHERTEXTS
from tests.service_helpers import (
    PASSWORD,
    bearer,
    enc,
    enrol_body,
    enrolment_headers,
    error_text,
    physician_key,
    physician_public,
    range_body,
    reading_body,
    system_key,
)
from tests.stack_helpers import (
    all_cells,
    new_patient,
    other_physician_key,
    row_counts,
    sign_in,
    wait_until_decided,
)

if TYPE_CHECKING:
    from tests.servers import Stack

pytest_plugins = ["tests.servers"]
pytestmark = pytest.mark.anyio
LOW, HIGH, THRESHOLD = 6011, 9733, 4421  # distinctive values to look for in the database


@dataclass
class World:
    stack: Stack
    token: str
    other_token: str
    patient_id: str
    device: str


@pytest.fixture
async def world(stack: Stack) -> World:
    pk, _, _ = system_key()
    token = await sign_in(stack, "dr.one", physician_key()[0])
    other_pk, _ = other_physician_key()
    other_token = await sign_in(stack, "dr.two", other_pk)
    patient_id, device = await new_patient(stack, token)
    response = await stack.client.put(
        f"/v1/patients/{patient_id}/range",
        json=range_body(pk, LOW, HIGH, THRESHOLD),
        headers=bearer(token),
    )
    assert response.status_code == 200
    return World(stack, token, other_token, patient_id, device)


def _zero(pk: Any) -> str:
    return base64.b64encode(bytes(ciphertext_length(pk))).decode()


def _modulus_ciphertext(pk: Any) -> str:
    return encode_ciphertext(pk, pk.n)  # in range but not invertible


Case = Callable[[World], tuple[str, str, dict[str, Any]]]
PK = system_key()[0]


def _reading(**changes: Any) -> Case:
    def build(w: World) -> tuple[str, str, dict[str, Any]]:
        body: dict[str, Any] = {**reading_body(PK, 700, 10), **changes}
        return "POST", "/v1/readings", {"json": body, "headers": bearer(w.device)}

    return build


def _range(**changes: Any) -> Case:
    def build(w: World) -> tuple[str, str, dict[str, Any]]:
        body = {**range_body(PK, 1, 2, 3), **changes}
        return (
            "PUT",
            f"/v1/patients/{w.patient_id}/range",
            {"json": body, "headers": bearer(w.token)},
        )

    return build


def _enrol(headers: dict[str, str] | None = None, **changes: Any) -> Case:
    def build(w: World) -> tuple[str, str, dict[str, Any]]:
        body = {**enrol_body("dr.three", physician_key()[0]), **changes}
        return (
            "POST",
            "/v1/physicians",
            {
                "json": body,
                "headers": enrolment_headers(w.stack.key_dir) if headers is None else headers,
            },
        )

    return build


def _other_pk_d(**changes: Any) -> dict[str, str]:
    return {**physician_public(physician_key()[0]), **changes}


BAD_INPUTS: list[tuple[str, Case, int, str]] = [
    ("enrol without token", _enrol(headers={}), 401, "X-Enrolment-Token"),
    (
        "enrol wrong token",
        _enrol(headers={"X-Enrolment-Token": "x" * 64}),
        401,
        "X-Enrolment-Token",
    ),
    ("enrol short username", _enrol(username="ab"), 422, "username"),
    ("enrol short password", _enrol(password="short"), 422, "password"),
    ("enrol extra field", _enrol(role="admin"), 422, "role"),
    (
        "enrol key_id mismatch",
        _enrol(public_key=_other_pk_d(key_id="0123456789abcdef")),
        422,
        "public_key.key_id",
    ),
    ("enrol even modulus", _enrol(public_key=_other_pk_d(n=hex(2**1023 + 2))), 422, "public_key.n"),
    ("enrol small modulus", _enrol(public_key=_other_pk_d(n=hex(2**300 + 1))), 422, "public_key.n"),
    ("enrol taken username", _enrol(username="dr.one"), 409, "username"),
    (
        "patient without bearer",
        lambda w: ("POST", "/v1/patients", {"json": {"label": "x"}}),
        401,
        "bearer",
    ),
    (
        "patient garbage bearer",
        lambda w: ("POST", "/v1/patients", {"json": {"label": "x"}, "headers": bearer("abc")}),
        401,
        "token",
    ),
    (
        "patient device token as JWT",
        lambda w: ("POST", "/v1/patients", {"json": {"label": "x"}, "headers": bearer(w.device)}),
        401,
        "token",
    ),
    (
        "patient empty label",
        lambda w: ("POST", "/v1/patients", {"json": {"label": "  "}, "headers": bearer(w.token)}),
        422,
        "label",
    ),
    (
        "patient long label",
        lambda w: (
            "POST",
            "/v1/patients",
            {"json": {"label": "x" * 101}, "headers": bearer(w.token)},
        ),
        422,
        "label",
    ),
    ("range wrong key_id", _range(key_id="0123456789abcdef"), 422, "key_id"),
    ("range bad base64", _range(low="!!!!"), 422, "low"),
    ("range wrong length", _range(high="QUJD"), 422, "high"),
    ("range zero", _range(threshold=_zero(PK)), 422, "threshold"),
    ("range not invertible", _range(low=_modulus_ciphertext(PK)), 422, "low"),
    ("range missing field", _range(threshold=None), 422, "threshold"),
    (
        "range other physician",
        lambda w: (
            "PUT",
            f"/v1/patients/{w.patient_id}/range",
            {"json": range_body(PK, 1, 2, 3), "headers": bearer(w.other_token)},
        ),
        403,
        "patient_id",
    ),
    (
        "range unknown patient",
        lambda w: (
            "PUT",
            f"/v1/patients/{uuid.uuid4()}/range",
            {"json": range_body(PK, 1, 2, 3), "headers": bearer(w.token)},
        ),
        404,
        "patient_id",
    ),
    (
        "range bad patient id",
        lambda w: (
            "PUT",
            "/v1/patients/not-a-uuid/range",
            {"json": range_body(PK, 1, 2, 3), "headers": bearer(w.token)},
        ),
        422,
        "patient_id",
    ),
    (
        "reading without token",
        lambda w: ("POST", "/v1/readings", {"json": reading_body(PK, 700, 1)}),
        401,
        "device token",
    ),
    (
        "reading physician JWT",
        lambda w: (
            "POST",
            "/v1/readings",
            {"json": reading_body(PK, 700, 1), "headers": bearer(w.token)},
        ),
        401,
        "device token",
    ),
    ("reading wrong key_id", _reading(key_id="0123456789abcdef"), 422, "key_id"),
    ("reading bad heart_rate", _reading(heart_rate="@@@@"), 422, "heart_rate"),
    ("reading zero heart_rate", _reading(heart_rate=_zero(PK)), 422, "heart_rate"),
    ("reading score not invertible", _reading(score=_modulus_ciphertext(PK)), 422, "score"),
    ("reading score too long", _reading(score="A" * 2000), 422, "score"),
    ("reading bad rate_missing", _reading(rate_missing="@@@@"), 422, "rate_missing"),
    ("reading zero rate_missing", _reading(rate_missing=_zero(PK)), 422, "rate_missing"),
    ("reading plaintext rate_missing", _reading(rate_missing=1), 422, "rate_missing"),
    ("reading naive taken_at", _reading(taken_at="2026-01-01T10:00:00"), 422, "taken_at"),
    ("reading bad taken_at", _reading(taken_at="yesterday"), 422, "taken_at"),
    # Security round 2, item 7: these crashed A (500, SQL parameters in the log)
    ("reading taken_at overflows", _reading(taken_at="9999-12-31T23:00:00-05:00"), 422, "taken_at"),
    ("reading taken_at year 1", _reading(taken_at="0001-01-01T00:00:00+00:00"), 422, "taken_at"),
    # ... and this one was stored and stood as the patient's latest result for years
    ("reading taken_at in 2030", _reading(taken_at="2030-01-01T00:00:00Z"), 422, "taken_at"),
    ("reading bad id", _reading(reading_id="42"), 422, "reading_id"),
    ("reading plaintext value", _reading(heart_rate=724), 422, "heart_rate"),
    ("reading too large", _reading(score="A" * 2_000_000), 413, "body"),
    (
        "results window reversed",
        lambda w: (
            "GET",
            f"/v1/patients/{w.patient_id}/results",
            {
                "params": {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
                "headers": bearer(w.token),
            },
        ),
        422,
        "since",
    ),
    (
        "results limit zero",
        lambda w: (
            "GET",
            f"/v1/patients/{w.patient_id}/results",
            {"params": {"limit": 0}, "headers": bearer(w.token)},
        ),
        422,
        "limit",
    ),
    (
        "results other physician",
        lambda w: (
            "GET",
            f"/v1/patients/{w.patient_id}/results",
            {"headers": bearer(w.other_token)},
        ),
        403,
        "patient_id",
    ),
    (
        "tally other physician",
        lambda w: ("GET", f"/v1/patients/{w.patient_id}/tally", {"headers": bearer(w.other_token)}),
        403,
        "patient_id",
    ),
    (
        "tally naive since",
        lambda w: (
            "GET",
            f"/v1/patients/{w.patient_id}/tally",
            {"params": {"since": "2026-01-01T00:00:00"}, "headers": bearer(w.token)},
        ),
        422,
        "since",
    ),
    *(
        (
            f"{part} {label}",
            lambda w, part=part, value=value: (
                "GET",
                f"/v1/patients/{w.patient_id}/{part}",
                {"params": {"since": value}, "headers": bearer(w.token)},
            ),
            422,
            "since",
        )
        for part in ("results", "tally")
        for label, value in (
            ("since overflows", "9999-12-31T23:59:59-14:00"),
            ("since underflows", "0001-01-01T00:00:00+14:00"),
        )
    ),
    ("events without token", lambda w: ("GET", "/v1/events", {}), 401, "bearer"),
]


async def test_every_bad_input_is_refused_by_name_and_stores_nothing(world: World) -> None:
    """One world for all cases (sign-ins are slow argon2 work); each case checked alone."""
    failures = []
    for name, build, status, field in BAD_INPUTS:
        before = all_cells(world.stack.database_url)
        counts = row_counts(world.stack.database_url)
        method, url, kwargs = build(world)
        response = await world.stack.client.request(method, url, **kwargs)
        detail = error_text(response.json().get("detail", "")) if response.content else ""
        problems = []
        if response.status_code != status:
            problems.append(f"status {response.status_code} != {status}: {response.text[:200]}")
        if field.lower() not in detail.lower():
            problems.append(f"detail does not name {field!r}: {detail[:200]}")
        if status == 401 and "www-authenticate" not in response.headers:
            problems.append("401 without WWW-Authenticate")
        if (
            row_counts(world.stack.database_url) != counts
            or all_cells(world.stack.database_url) != before
        ):
            problems.append("the database changed")
        failures.extend(f"{name}: {p}" for p in problems)
    assert not failures, "\n".join(failures)
    assert len(BAD_INPUTS) >= 40


async def test_a_reading_a_few_minutes_ahead_is_clock_drift_and_accepted(world: World) -> None:
    ahead = datetime.now(UTC) + timedelta(minutes=2)
    response = await world.stack.client.post(
        "/v1/readings", json=reading_body(PK, 700, 1, ahead), headers=bearer(world.device)
    )
    assert response.status_code == 202, response.text


async def test_database_errors_carry_no_statement_values(world: World) -> None:
    from server_a.storage import Storage

    storage = Storage(world.stack.database_url)
    try:
        with pytest.raises(sa.exc.SQLAlchemyError) as caught, storage.engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "CIPHER-123"})
        assert "CIPHER-123" not in str(caught.value)
    finally:
        storage.close()


async def test_wrong_password_and_unknown_user_get_the_same_401(world: World) -> None:
    client = world.stack.client
    wrong = await client.post("/v1/auth/token", data={"username": "dr.one", "password": "x" * 20})
    unknown = await client.post("/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["expired", "other secret", "no subject", "unknown physician"])
async def test_forged_or_expired_access_tokens_get_401(world: World, kind: str) -> None:
    secret = (world.stack.key_dir / "jwt_secret").read_text().strip()
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "typ": "access",
        "exp": now + timedelta(minutes=5),
    }
    real_sub = jwt.decode(world.token, secret, algorithms=["HS256"])["sub"]
    if kind == "expired":
        claims.update(sub=real_sub, exp=now - timedelta(seconds=5))
    elif kind == "other secret":
        claims["sub"] = real_sub
        secret = "another-secret-of-enough-length-0123456789"
    elif kind == "no subject":
        del claims["sub"]
    token = jwt.encode(claims, secret, algorithm="HS256")
    response = await world.stack.client.get("/v1/patients", headers=bearer(token))
    assert response.status_code == 401


async def test_an_event_stream_ends_when_its_token_expires(world: World) -> None:
    """Security round 2, item 6: /v1/events checked the token once, and a stream opened
    with a token about to expire kept delivering. It now ends at ``exp``."""
    secret = (world.stack.key_dir / "jwt_secret").read_text().strip()
    sub = jwt.decode(world.token, secret, algorithms=["HS256"])["sub"]
    exp = datetime.now(UTC) + timedelta(seconds=2)
    token = jwt.encode({"sub": sub, "typ": "access", "exp": exp}, secret, algorithm="HS256")
    async with asyncio.timeout(15):  # before the fix: no end at all
        response = await world.stack.client.get("/v1/events", headers=bearer(token))
    assert response.status_code == 200
    assert response.text.startswith(": connected")
    assert response.text.rstrip().endswith("event: expired\ndata: {}")


async def test_physician_sees_only_own_patients(world: World) -> None:
    client = world.stack.client
    theirs = (await client.get("/v1/patients", headers=bearer(world.other_token))).json()
    assert theirs == []
    mine = (await client.get("/v1/patients", headers=bearer(world.token))).json()
    assert [p["patient_id"] for p in mine] == [world.patient_id]


async def test_replayed_reading_is_stored_once_and_conflicts_on_other_content(world: World) -> None:
    client = world.stack.client
    body = reading_body(PK, 700, 10)
    first = await client.post("/v1/readings", json=body, headers=bearer(world.device))
    assert first.status_code == 202
    again = await client.post("/v1/readings", json=body, headers=bearer(world.device))
    assert again.status_code == 200
    assert again.json()["reading_id"] == body["reading_id"]
    counts = row_counts(world.stack.database_url)
    changed = {**body, "heart_rate": enc(PK, 700)}  # same value, fresh encryption: other content
    conflict = await client.post("/v1/readings", json=changed, headers=bearer(world.device))
    assert conflict.status_code == 409
    assert "reading_id" in conflict.json()["detail"]
    _, other_device = await new_patient(world.stack, world.token, "bed 5")
    stolen = await client.post("/v1/readings", json=body, headers=bearer(other_device))
    assert stolen.status_code == 409
    assert row_counts(world.stack.database_url)["readings"] == counts["readings"]
    (decided,) = await wait_until_decided(client, world.token, world.patient_id, 1)
    replay = await client.post("/v1/readings", json=body, headers=bearer(world.device))
    # the device learns "stored", never the state (Security round 2, item 1)
    assert replay.status_code == 200 and replay.json()["status"] == "stored"
    assert decided["status"] == "done"


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def test_database_holds_no_plaintext_and_b_sees_no_device_ciphertext(world: World) -> None:
    client = world.stack.client
    values = [(7243, 5117, 3311), (5981, 4420, 2719), (9734, 4422, 1687)]
    bodies = [reading_body(PK, hr, s, irregularity=q) for hr, s, q in values]
    for body in bodies:
        assert (
            await client.post("/v1/readings", json=body, headers=bearer(world.device))
        ).status_code == 202
    await wait_until_decided(client, world.token, world.patient_id, len(bodies))

    secrets_in_clear = {str(v) for pair in values for v in pair} | {
        str(LOW),
        str(HIGH),
        str(THRESHOLD),
    }
    for cell in all_cells(world.stack.database_url):
        if cell is None:
            continue
        if isinstance(cell, int):
            assert str(cell) not in secrets_in_clear
            continue
        # ids are UUIDs, whose hex groups can be all digits ("4422") by chance
        text = UUID_TEXT.sub("<id>", str(cell))
        tokens = set(re.split(r"[^0-9A-Za-z+/=]+", text))
        assert not tokens & secrets_in_clear, cell
    device_device_token = world.device
    stored = " ".join(str(c) for c in all_cells(world.stack.database_url))
    assert device_device_token not in stored  # only its SHA-256
    assert PASSWORD not in stored  # only its argon2 hash

    assert world.stack.b.bodies, "server B was never called"
    forbidden = [b[k] for b in bodies for k in READING_CIPHERTEXTS]
    forbidden += [b["reading_id"] for b in bodies] + [world.patient_id]
    for sent in world.stack.b.bodies:
        text = sent.decode()
        for value in forbidden:
            assert value not in text


async def test_readings_stay_pending_across_a_restart_and_resume(world: World) -> None:
    """A reading stored while B is down is decided by a fresh server A process state."""
    from tests.servers import in_memory_stack

    world.stack.b.down = True
    body = reading_body(PK, 700, 10)
    assert (
        await world.stack.client.post("/v1/readings", json=body, headers=bearer(world.device))
    ).status_code == 202
    async with in_memory_stack(world.stack.key_dir, world.stack.database_url) as restarted:
        (result,) = await wait_until_decided(restarted.client, world.token, world.patient_id, 1)
    assert result["status"] == "done"
    await asyncio.sleep(0)


async def test_a_lost_device_s_token_is_replaced_and_refused(world: World) -> None:
    """Security round 2, item 9: there was no way to revoke a device token."""
    client = world.stack.client
    url = f"/v1/patients/{world.patient_id}/device-token"
    assert (await client.post(url, headers=bearer(world.other_token))).status_code == 403
    replaced = await client.post(url, headers=bearer(world.token))
    assert replaced.status_code == 201
    new_device = replaced.json()["device_token"]
    assert new_device != world.device
    old = await client.post(
        "/v1/readings", json=reading_body(PK, 700, 1), headers=bearer(world.device)
    )
    assert old.status_code == 401
    new = await client.post(
        "/v1/readings", json=reading_body(PK, 700, 1), headers=bearer(new_device)
    )
    assert new.status_code == 202


async def test_two_patients_of_one_physician_cannot_share_a_label(world: World) -> None:
    client = world.stack.client
    first = await client.post("/v1/patients", json={"label": "Room 7"}, headers=bearer(world.token))
    assert first.status_code == 201
    again = await client.post("/v1/patients", json={"label": "room 7"}, headers=bearer(world.token))
    assert again.status_code == 409 and "label" in again.json()["detail"]
    other = await client.post(
        "/v1/patients", json={"label": "Room 7"}, headers=bearer(world.other_token)
    )
    assert other.status_code == 201  # another physician's list is another list
