"""Scale out (#15): two server A processes (each an API replica and a comparison worker)
on one real PostgreSQL, two stateless server B replicas used in turn, 20 devices sending
1,000 readings; one A is SIGKILLed while it holds claimed readings. Every reading is
decided exactly once with the right bit, the dead worker's claims included."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from client.web.basics import free_port
from ops.launcher import ServerProcess, server_env, write_key_dir
from protocol.ciphertext import decode_ciphertext
from protocol.paillier import decrypt
from tests.conftest import _fresh_postgres_database
from tests.e2e_support import EventCollector, sign_in
from tests.service_helpers import (
    RHO,
    bearer,
    expected_bit,
    physician_key,
    range_body,
    reading_body,
    system_key,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LOW, HIGH, THRESHOLD = 600, 1000, 5000
DEVICES, PER_DEVICE = 20, 50
VALUES = [
    (hr, s, q)
    for hr, s in itertools.product((LOW - 1, LOW, 800, HIGH, HIGH + 1), (THRESHOLD - 1, THRESHOLD))
    for q in (0, RHO)
]


def _env() -> dict[str, str]:
    extra = {
        "HRMON_A_CLAIM_LEASE_S": "10",  # a dead worker's readings move on after 10 s
        "HRMON_A_BATCH_MAX_READINGS": "8",
        "HRMON_A_DEVICE_BURST": "1000",
    }
    return server_env(extra, insecure_test_keys=True)


def _claims_of(engine: sa.Engine, pid: int) -> list[str]:
    """Pending readings a live lease of the process ``pid`` holds."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT id FROM readings WHERE status = 'pending' AND claimed_by LIKE :me "
                "AND claimed_until > now()"
            ),
            {"me": f"%-{pid}-%"},
        )
        return [r[0] for r in rows]


def test_two_workers_two_b_replicas_every_reading_decided_once_through_a_kill(
    tmp_path: Path, postgres_url: str
) -> None:
    database = _fresh_postgres_database(postgres_url)
    pk = system_key()[0]
    pk_d, sk_d = physician_key()
    key_dir = write_key_dir(tmp_path / "keys", system=system_key())
    env = _env()
    bs = [
        ServerProcess("server_b", free_port(), ["--key-dir", str(key_dir)], env,
                      tmp_path / f"server_b{i}.log")
        for i in (1, 2)
    ]  # fmt: skip
    b_urls = ",".join(b.url for b in bs)
    a_args = ["--key-dir", str(key_dir), "--database-url", database, "--server-b-url", b_urls]
    a_one, a_two = (
        ServerProcess("server_a", free_port(), a_args, env, tmp_path / f"server_a{i}.log")
        for i in (1, 2)
    )
    engine = sa.create_engine(database)
    try:
        for server in (*bs, a_one):
            server.start()
        a_two.start()  # after A1 migrated the database
        with httpx.Client(base_url=a_one.url, timeout=30) as http:
            token = sign_in(http, key_dir, "dr.scale", pk_d)
            devices = []
            for i in range(DEVICES):
                created = http.post(
                    "/v1/patients", json={"label": f"bed {i}"}, headers=bearer(token)
                ).json()
                answer = http.put(
                    f"/v1/patients/{created['patient_id']}/range",
                    json=range_body(pk, LOW, HIGH, THRESHOLD),
                    headers=bearer(token),
                )
                assert answer.status_code == 200, answer.text
                devices.append(created["device_token"])
        stream = EventCollector(a_one.url, token)  # the physician is connected to A1 only
        assert stream.connected.wait(30)
        start = datetime.now(UTC) - timedelta(hours=1)
        bodies = [
            (d, reading_body(pk, *VALUES[(d + 7 * i) % len(VALUES)][:2],
                             start + timedelta(seconds=i), VALUES[(d + 7 * i) % len(VALUES)][2]),
             VALUES[(d + 7 * i) % len(VALUES)])
            for i in range(PER_DEVICE) for d in range(DEVICES)
        ]  # fmt: skip
        sent: dict[str, tuple[int, int, int]] = {}
        killed: list[str] = []  # A2's claims it did not finish
        was_killed = False
        assert a_two.process is not None
        a_two_pid = a_two.process.pid
        with httpx.Client(timeout=30) as http:
            for n, (device, body, values) in enumerate(bodies):
                replica = a_one if was_killed or n % 2 == 0 else a_two  # both A take readings
                answer = http.post(
                    f"{replica.url}/v1/readings", json=body, headers=bearer(devices[device])
                )
                assert answer.status_code == 202, answer.text
                sent[body["reading_id"]] = values
                if not was_killed and n >= len(bodies) // 3 and _claims_of(engine, a_two_pid):
                    a_two.kill()  # mid-batch, with its claims
                    was_killed = True
                    killed.extend(_claims_of(engine, a_two_pid))
        assert was_killed, "A2 never held a claim while readings were arriving"
        deadline = time.monotonic() + 300
        while True:
            with engine.connect() as connection:
                pending = connection.scalar(
                    sa.text("SELECT count(*) FROM readings WHERE status = 'pending'")
                )
            if pending == 0:
                break
            assert time.monotonic() < deadline, f"{pending} readings still pending"
            time.sleep(0.5)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT id, status, result, claimed_by FROM readings")
            ).all()
        time.sleep(2)  # the last events' way through NOTIFY and the stream
        stream.stop()
    finally:
        for server in (a_one, a_two, *bs):
            server.stop()
        engine.dispose()
    assert len(rows) == DEVICES * PER_DEVICE == len(sent)
    by_id = {r[0]: r for r in rows}
    for reading_id, (hr, score, q) in sent.items():
        _, status, result, _ = by_id[reading_id]
        assert status == "done", (reading_id, status)
        bit = decrypt(sk_d, decode_ciphertext(pk_d, result))
        assert bit == expected_bit(hr, score, LOW, HIGH, THRESHOLD, q, RHO), (hr, score, q)
    # the killed worker's claims were finished by the survivor
    assert all(f"-{a_two_pid}-" not in (by_id[r][3] or "") for r in killed)
    # A1's stream carried decisions A2 made (PostgreSQL NOTIFY), and none twice
    seen = [json.loads(e["data"])["reading_id"] for e in stream.events]
    assert len(seen) == len(set(seen))
    by_a2 = {r[0] for r in rows if f"-{a_two_pid}-" in (r[3] or "")}
    assert by_a2 & set(seen), "no decision of A2 reached the stream on A1"
    # both B replicas answered (A uses them in turn; any call may reach either)
    for i in (1, 2):
        log = (tmp_path / f"server_b{i}.log").read_text()
        assert "/v1/compare" in log and "/v1/partial-decryption" in log, i
