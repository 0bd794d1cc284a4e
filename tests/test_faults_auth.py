"""Wrong or stolen credentials against the real server processes: refused with the status
docs/api.md names (401 bad credentials with a challenge, 403 not yours), nothing stored."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from service_common.signing import signature_headers
from tests.fault_support import World, running_world, stored_readings
from tests.service_helpers import (
    PASSWORD,
    ab_secret,
    bearer,
    compare_request,
    enrol_body,
    physician_key,
    range_body,
    reading_body,
    system_key,
)

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("auth")
    with running_world(base, f"sqlite:///{base / 'a.sqlite3'}", patients=2) as w:
        yield w


@pytest.fixture(scope="module")
def a(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.a_url, timeout=30) as client:
        yield client


def _jwt(world: World, **claims: object) -> str:
    secret = (world.key_dir / "jwt_secret").read_text().strip()
    real = jwt.decode(world.token, secret, algorithms=["HS256"])
    body = {**real, **claims}
    key = str(body.pop("_secret", secret))
    return jwt.encode(body, key, algorithm="HS256")


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert "www-authenticate" in response.headers
    assert response.json()["detail"]


def test_wrong_password_gets_401(a: httpx.Client) -> None:
    response = a.post("/v1/auth/token", data={"username": "dr.fault", "password": PASSWORD + "x"})
    _assert_401(response)
    assert "access_token" not in response.text


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": datetime.now(UTC) - timedelta(seconds=1)},
        {"_secret": "x" * 40},
        {"sub": str(uuid.uuid4())},
        {"typ": "refresh"},
    ],
    ids=["expired", "forged", "unknown physician", "not an access token"],
)
def test_bad_access_token_gets_401(
    world: World, a: httpx.Client, claims: dict[str, object]
) -> None:
    _assert_401(a.get("/v1/patients", headers=bearer(_jwt(world, **claims))))


def test_unsigned_alg_none_token_gets_401(world: World, a: httpx.Client) -> None:
    secret = (world.key_dir / "jwt_secret").read_text().strip()
    claims = jwt.decode(world.token, secret, algorithms=["HS256"])
    forged = jwt.encode(claims, None, algorithm="none")
    _assert_401(a.get("/v1/patients", headers=bearer(forged)))


def test_device_and_physician_tokens_do_not_open_each_others_doors(
    world: World, a: httpx.Client
) -> None:
    x, y = world.patients
    _assert_401(a.get(f"/v1/patients/{y.patient_id}/results", headers=bearer(x.device_token)))
    _assert_401(a.get("/v1/patients", headers=bearer(x.device_token)))
    body = reading_body(system_key()[0], 700, 10)
    _assert_401(a.post("/v1/readings", json=body, headers=bearer(world.token)))
    _assert_401(a.post("/v1/readings", json=body, headers=bearer("not-a-device-token")))
    assert body["reading_id"] not in {r["id"] for r in stored_readings(world.database_url)}


def test_device_token_of_patient_x_cannot_write_for_patient_y(
    world: World, a: httpx.Client
) -> None:
    x, y = world.patients
    body = reading_body(system_key()[0], 700, 10)
    assert a.post("/v1/readings", json=body, headers=bearer(y.device_token)).status_code == 202
    # X's device re-sending Y's reading id (a guessed or stolen id) is refused, not re-bound.
    assert a.post("/v1/readings", json=body, headers=bearer(x.device_token)).status_code == 409
    results = a.get(f"/v1/patients/{x.patient_id}/results", headers=bearer(world.token)).json()
    assert body["reading_id"] not in {r["reading_id"] for r in results}


@pytest.fixture(scope="module")
def other_token(world: World, a: httpx.Client) -> str:
    """A second physician, with patients of their own in no one's way."""
    from protocol.paillier import generate_keypair

    pk_d, _ = generate_keypair(1024)
    token = (world.key_dir / "enrolment_token").read_text().strip()
    enrolled = a.post(
        "/v1/physicians", json=enrol_body("dr.other", pk_d), headers={"X-Enrolment-Token": token}
    )
    assert enrolled.status_code == 201, enrolled.text
    response = a.post("/v1/auth/token", data={"username": "dr.other", "password": PASSWORD})
    return str(response.json()["access_token"])


def test_another_physicians_patient_gets_403(
    world: World, a: httpx.Client, other_token: str
) -> None:
    patient = world.patients[0].patient_id
    pk = system_key()[0]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/v1/patients/{patient}/results", {}),
        ("GET", f"/v1/patients/{patient}/tally", {}),
        ("PUT", f"/v1/patients/{patient}/range", {"json": range_body(pk, 1, 2, 3)}),
    ]
    for method, path, kwargs in cases:
        response = a.request(method, path, headers=bearer(other_token), **kwargs)
        assert response.status_code == 403, (path, response.text)
        assert "not your patient" in response.json()["detail"]
    assert a.get("/v1/patients", headers=bearer(other_token)).json() == []


@pytest.mark.parametrize("token", [None, "wrong-enrolment-token-0123456789abcdef"])
def test_enrolment_needs_the_operator_token(a: httpx.Client, token: str | None) -> None:
    headers = {"X-Enrolment-Token": token} if token else {}
    body = enrol_body(f"dr.{uuid.uuid4().hex[:8]}", physician_key()[0])
    _assert_401(a.post("/v1/physicians", json=body, headers=headers))


# --- server B accepts server A alone ------------------------------------------------------


def _compare_body() -> bytes:
    pk, share_a, _ = system_key()
    request = compare_request(pk, share_a, physician_key()[0], [[(700, 10)]], (600, 1000, 5000))
    return json.dumps(request.model_dump(mode="json")).encode()


def test_b_answers_a_correctly_signed_call(world: World) -> None:
    body = _compare_body()
    headers = {
        "content-type": "application/json",
        **signature_headers(ab_secret(world.key_dir), body),
    }
    response = httpx.post(f"{world.servers.b_url}/v1/compare", content=body, headers=headers)
    assert response.status_code == 200, response.text  # the control: the refusals below are real


@pytest.mark.parametrize(
    "forge",
    ["unsigned", "other secret", "tampered", "replayed old signature", "signature of another body"],
)
def test_b_refuses_anyone_but_a(world: World, forge: str) -> None:
    body = _compare_body()
    secret = ab_secret(world.key_dir)
    old = time.time() - 120
    headers = {
        "unsigned": {},
        "other secret": signature_headers(b"y" * 64, body),
        "tampered": {**signature_headers(secret, body), "X-HRMon-Signature": "0" * 64},
        # a call A really made two minutes ago, sent again as it was
        "replayed old signature": signature_headers(secret, body, now=old),
        "signature of another body": signature_headers(secret, body + b" "),
    }[forge]
    response = httpx.post(
        f"{world.servers.b_url}/v1/compare",
        content=body,
        headers={"content-type": "application/json", **headers},
    )
    _assert_401(response)
