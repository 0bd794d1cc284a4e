"""Scale out (#15): rate limits shared by every server A replica on one PostgreSQL.

Per-process buckets gave a device N times its burst behind N API replicas, and a
password guesser N times its tries. The attack is kept: readings and wrong passwords
sent to two real A processes in turn."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from client.web.basics import free_port
from ops.launcher import ServerProcess, server_env, write_key_dir
from server_a.ratelimit import TokenBuckets
from server_a.shared_ratelimit import SharedTokenBuckets
from server_a.storage import Storage
from tests.conftest import _fresh_postgres_database
from tests.e2e_support import sign_in
from tests.service_helpers import bearer, physician_key, reading_body, system_key


def _migrated(url: str) -> sa.Engine:
    storage = Storage(url)
    storage.migrate()
    return storage.engine


def test_shared_buckets_answer_as_the_in_process_ones(tmp_path: Path) -> None:
    engine = _migrated(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    shared = SharedTokenBuckets(engine, "device", rate_per_s=0.5, burst=3)
    local = TokenBuckets(rate_per_s=0.5, burst=3, max_keys=100)
    rng = random.Random(5)
    now = 1_000_000.0
    for _ in range(300):
        now += rng.choice((0.0, 0.1, 0.7, 2.5))
        key = rng.choice(("d1", "d2", "d3"))
        if rng.random() < 0.2:
            assert shared.wait(key, now) == pytest.approx(local.wait(key, now))
        else:
            assert shared.take(key, now) == pytest.approx(local.take(key, now))
    with engine.connect() as connection:
        stored = connection.scalars(sa.text("SELECT bucket FROM rate_buckets")).all()
    assert len(stored) == 3 and not {"d1", "d2", "d3"} & set(stored)  # names hashed


def test_a_clock_behind_refills_nothing_and_idle_buckets_are_pruned(tmp_path: Path) -> None:
    engine = _migrated(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    buckets = SharedTokenBuckets(engine, "device", rate_per_s=1.0, burst=1)
    other = SharedTokenBuckets(engine, "login-user", rate_per_s=0.001, burst=1)
    assert buckets.take("d", now=100.0) == 0
    assert buckets.take("d", now=90.0) == pytest.approx(1.0)  # a replica 10 s behind
    other.take("u", now=100.0)
    for i in range(512):  # one prune, at now = 10^4: "d" idle long enough, "u" not
        buckets.take(f"k{i}", now=10_000.0)
    with engine.connect() as connection:
        scopes = connection.execute(
            sa.text("SELECT scope, count(*) FROM rate_buckets GROUP BY scope")
        )
        assert dict(scopes.all()) == {"device": 512, "login-user": 1}


@pytest.mark.postgres
def test_two_replicas_give_one_burst_and_one_allowance(tmp_path: Path, postgres_url: str) -> None:
    database = _fresh_postgres_database(postgres_url)
    key_dir = write_key_dir(tmp_path / "keys", system=system_key())
    env = server_env(
        {
            "HRMON_A_COMPARISON_WORKER": "false",  # API replicas only: readings stay pending
            "HRMON_A_DEVICE_BURST": "4",
            "HRMON_A_DEVICE_RATE_PER_S": "0.001",
            "HRMON_A_LOGIN_BURST": "3",
            "HRMON_A_LOGIN_RATE_PER_S": "0.001",
        },
        insecure_test_keys=True,
    )
    args = ["--key-dir", str(key_dir), "--database-url", database]
    replicas = [
        ServerProcess("server_a", free_port(), args, env, tmp_path / f"server_a{i}.log")
        for i in (1, 2)
    ]
    try:
        replicas[0].start()
        replicas[1].start()  # after the first migrated the database
        pk = system_key()[0]
        with httpx.Client(base_url=replicas[0].url, timeout=30) as http:
            token = sign_in(http, key_dir, "dr.limit", physician_key()[0])
            device = http.post(
                "/v1/patients", json={"label": "bed 1"}, headers=bearer(token)
            ).json()["device_token"]
            codes = []
            for n in range(6):
                body = reading_body(pk, 800, 10, datetime.now(UTC))
                url = f"{replicas[n % 2].url}/v1/readings"
                codes.append(http.post(url, json=body, headers=bearer(device)).status_code)
            assert codes == [202, 202, 202, 202, 429, 429]  # one burst of 4, not two
            wrong = {"username": "dr.limit", "password": "not-the-password-at-all"}
            guesses = [
                http.post(f"{replicas[n % 2].url}/v1/auth/token", data=wrong).status_code
                for n in range(5)
            ]
            assert guesses == [401, 401, 401, 429, 429]  # three guesses, not six
    finally:
        for replica in replicas:
            replica.stop()
