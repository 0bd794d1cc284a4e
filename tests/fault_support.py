"""Helpers for the fault tests: both servers as real processes (ops.launcher), an enrolled
physician with patients, devices that retry unacknowledged readings with the same id, and
checks read straight from server A's database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from ops.launcher import LocalServers, launch_servers, write_key_dir
from protocol.ciphertext import decode_ciphertext
from protocol.paillier import decrypt
from tests.service_helpers import (
    PASSWORD,
    bearer,
    enrol_body,
    enrolment_headers,
    expected_bit,
    physician_key,
    range_body,
    reading_body,
    system_key,
)

LOW, HIGH, THRESHOLD = 600, 1000, 5000
# Fast retries so a test waits for B's return in well under a second.
FAST_WORKER_ENV = {
    "HRMON_A_POLL_INTERVAL_S": "0.2",
    "HRMON_A_RETRY_BASE_S": "0.05",
    "HRMON_A_RETRY_CAP_S": "0.5",
    "HRMON_A_B_TIMEOUT_S": "10",
    "HRMON_A_NOISE_POOL_SIZE": "0",
    "HRMON_B_NOISE_POOL_SIZE": "0",
    "HRMON_A_DEVICE_RATE_PER_S": "1000",  # tests/test_faults_bad_input.py tests the limit
    "HRMON_A_DEVICE_BURST": "1000",
}


@dataclass
class Reading:
    """A device's submission and the bit the physician must read for it."""

    body: dict[str, str]
    bit: int

    @property
    def reading_id(self) -> str:
        return self.body["reading_id"]


@dataclass
class Patient:
    patient_id: str
    device_token: str


@dataclass
class World:
    """Servers up, one physician signed in, patients with a range set."""

    servers: LocalServers
    key_dir: Path
    log_dir: Path
    database_url: str
    token: str
    patients: list[Patient] = field(default_factory=list)

    @property
    def a_url(self) -> str:
        return self.servers.a_url


def make_readings(count: int, start: int = 0) -> list[Reading]:
    """``count`` readings whose values walk across every bound (both bits occur)."""
    pk = system_key()[0]
    out = []
    for i in range(start, start + count):
        hr = 550 + (i * 37) % 500  # 550..1049: below, inside and above [LOW, HIGH]
        score = 4900 + (i * 13) % 200  # around THRESHOLD
        out.append(
            Reading(reading_body(pk, hr, score), expected_bit(hr, score, LOW, HIGH, THRESHOLD))
        )
    return out


def _add_patient(client: httpx.Client, token: str, label: str) -> Patient:
    pk = system_key()[0]
    created = client.post("/v1/patients", json={"label": label}, headers=bearer(token))
    assert created.status_code == 201, created.text
    patient = Patient(created.json()["patient_id"], created.json()["device_token"])
    ranged = client.put(
        f"/v1/patients/{patient.patient_id}/range",
        json=range_body(pk, LOW, HIGH, THRESHOLD),
        headers=bearer(token),
    )
    assert ranged.status_code == 200, ranged.text
    return patient


@contextmanager
def running_world(
    base: Path, database_url: str, patients: int = 1, env: dict[str, str] | None = None
) -> Iterator[World]:
    """Keys, both servers as processes, physician ``dr.fault`` with ``patients`` patients."""
    keys = write_key_dir(base / "keys", system=system_key())
    log_dir = base / "logs"
    with (
        launch_servers(
            keys,
            database_url=database_url,
            log_dir=log_dir,
            insecure_test_keys=True,
            env={**FAST_WORKER_ENV, **(env or {})},
        ) as servers,
        httpx.Client(base_url=servers.a_url, timeout=30) as client,
    ):
        enrolled = client.post(
            "/v1/physicians",
            json=enrol_body("dr.fault", physician_key()[0]),
            headers=enrolment_headers(keys),
        )
        assert enrolled.status_code == 201, enrolled.text
        token = client.post(
            "/v1/auth/token", data={"username": "dr.fault", "password": PASSWORD}
        ).json()["access_token"]
        world = World(servers, keys, log_dir, database_url, token)
        world.patients = [_add_patient(client, token, f"bed {i}") for i in range(patients)]
        yield world


async def submit_until_acknowledged(
    client: httpx.AsyncClient, device_token: str, reading: Reading, deadline_s: float = 120
) -> int:
    """POST the reading until A answers 200/202, as a device does: same body, same id.

    Returns:
        The status that acknowledged it.
    """
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            response = await client.post(
                "/v1/readings", json=reading.body, headers=bearer(device_token)
            )
            if response.status_code in (200, 202):
                return response.status_code
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers["retry-after"]))
                continue
            assert response.status_code >= 500, response.text  # a 4xx would be a real bug
        except httpx.TransportError:
            pass  # A is down or died mid-request: the device keeps the reading and retries
        assert time.monotonic() < give_up, f"reading not acknowledged in {deadline_s} s"
        await asyncio.sleep(0.1)


async def stream(
    a_url: str, device_token: str, readings: Sequence[Reading], concurrency: int = 4
) -> list[int]:
    """Submit all readings with a small concurrency; the statuses that acknowledged them."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=a_url, timeout=10) as client:

        async def one(reading: Reading) -> int:
            async with gate:
                return await submit_until_acknowledged(client, device_token, reading)

        return list(await asyncio.gather(*(one(r) for r in readings)))


def stored_readings(database_url: str) -> list[dict[str, Any]]:
    """Every row of A's readings table."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, status, result FROM readings"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def wait_all_done(database_url: str, count: int, timeout_s: float = 180) -> list[dict[str, Any]]:
    """Poll the database until ``count`` readings exist and none is pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = stored_readings(database_url)
        if len(rows) >= count and all(r["status"] != "pending" for r in rows):
            return rows
        statuses = [r["status"] for r in rows]
        assert time.monotonic() < deadline, (
            f"{len(rows)} stored, {statuses.count('pending')} pending after {timeout_s} s"
        )
        time.sleep(0.25)


def assert_exactly_once_with_right_bits(
    rows: list[dict[str, Any]], readings: Sequence[Reading]
) -> None:
    """Each reading stored once, done, and decrypting (sk_D) to its expected bit."""
    pk_d, sk_d = physician_key()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(readings)
    assert set(ids) == {r.reading_id for r in readings}
    by_id = {r["id"]: r for r in rows}
    wrong = []
    for reading in readings:
        row = by_id[reading.reading_id]
        assert row["status"] == "done", row["status"]
        bit = decrypt(sk_d, decode_ciphertext(pk_d, row["result"], "result"))
        if bit != reading.bit:
            wrong.append(reading.reading_id)
    assert not wrong, f"{len(wrong)} readings decrypt to the wrong bit"
