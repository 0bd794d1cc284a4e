"""Helpers of the service tests that drive server A over HTTP (in memory or real):
enrol and sign in a physician, add a patient, wait for decisions, decrypt, read A's
tables directly (what A's operator could see)."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa

from protocol.ciphertext import decode_ciphertext
from protocol.paillier import PrivateKey, PublicKey, decrypt, generate_keypair
from tests.service_helpers import (
    PASSWORD,
    bearer,
    enrol_body,
    enrolment_headers,
    physician_key,
    range_body,
    system_key,
)

if TYPE_CHECKING:
    from tests.servers import Stack


@functools.cache
def other_physician_key() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


async def sign_in(stack: Stack, username: str, pk_d: PublicKey) -> str:
    response = await stack.client.post(
        "/v1/physicians", json=enrol_body(username, pk_d), headers=enrolment_headers(stack.key_dir)
    )
    assert response.status_code == 201, response.text
    token = await stack.client.post(
        "/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


async def new_patient(stack: Stack, token: str, label: str = "bed 4") -> tuple[str, str]:
    response = await stack.client.post("/v1/patients", json={"label": label}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()["patient_id"], response.json()["device_token"]


async def wait_until_decided(
    client: httpx.AsyncClient, token: str, patient_id: str, count: int, timeout: float = 60
) -> list[dict[str, object]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(
            f"/v1/patients/{patient_id}/results", params={"limit": 1000}, headers=bearer(token)
        )
        results = response.json()
        if len(results) >= count and all(r["status"] != "pending" for r in results):
            return results
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"readings still pending after {timeout} s: {results}")
        await asyncio.sleep(0.02)


def decrypt_result(text: str) -> int:
    pk_d, sk_d = physician_key()
    return decrypt(sk_d, decode_ciphertext(pk_d, text))


def row_counts(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("physicians", "patients", "readings")
            }
    finally:
        engine.dispose()


THROTTLE_TABLES = {"rate_buckets"}
"""Tables of request counting, not data: every request, refused or not, spends a token."""


def all_cells(database_url: str) -> list[Any]:
    """Every stored cell of every data table (the rate-limit buckets left out)."""
    engine = sa.create_engine(database_url)
    cells: list[Any] = []
    try:
        with engine.connect() as connection:
            for table in sa.inspect(connection).get_table_names():
                if table in THROTTLE_TABLES:
                    continue
                for row in connection.execute(sa.text(f"SELECT * FROM {table}")):
                    cells.extend(row)
    finally:
        engine.dispose()
    return cells


async def patient_with_range(
    stack: Stack, username: str, bounds: tuple[int, int, int] = (600, 1000, 5000)
) -> tuple[str, str, str]:
    """A physician signed in and a patient of theirs with a healthy range (default
    60-100 bpm, score 0.5): (access token, patient id, device token)."""
    token = await sign_in(stack, username, physician_key()[0])
    patient_id, device = await new_patient(stack, token, username)
    response = await stack.client.put(
        f"/v1/patients/{patient_id}/range",
        json=range_body(system_key()[0], *bounds),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return token, patient_id, device
