"""Bad input against the real processes: each refusal is a clear 4xx and stores nothing; the
per-device rate limit; weak configuration refuses to start; the logs of the whole module's
run are JSON lines holding no value, ciphertext, key material or token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from client.web.basics import free_port
from ops.launcher import server_env, write_key_dir
from server_a.metrics import COUNT_EVERY_S
from tests.fault_support import World, running_world, stored_readings, wait_all_done
from tests.service_helpers import (
    PASSWORD,
    ab_secret,
    bearer,
    compare_request,
    physician_key,
    reading_body,
    signed,
    system_key,
)

pytestmark = pytest.mark.faults
PK = system_key()[0]
# Distinctive plaintexts: none of them may appear in a log line.
PLAINTEXTS = [(7243, 5117), (6011, 4421), (9733, 5119)]
SENT: list[str] = []  # every ciphertext and token this module sends, to look for in the logs


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("bad")
    # Burst above what any other test here spends on one device, so only device 2 drains.
    # A slow refill (one token per 20 s) keeps device 2 drained for the tests after it; as
    # many tracked buckets as devices, so a junk token that got a bucket would evict one.
    strict = {
        "HRMON_A_DEVICE_RATE_PER_S": "0.05",
        "HRMON_A_DEVICE_BURST": "12",
        "HRMON_A_MAX_TRACKED_DEVICES": "3",
    }
    with running_world(base, f"sqlite:///{base / 'a.sqlite3'}", 3, env=strict) as w:
        SENT.extend([w.token, *(p.device_token for p in w.patients)])
        yield w


def _post_reading(world: World, device: int, **kwargs: object) -> httpx.Response:
    headers = {**bearer(world.patients[device].device_token), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.post(f"{world.a_url}/v1/readings", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def _unchanged(world: World, before: list[dict[str, object]]) -> None:
    assert stored_readings(world.database_url) == before


def test_readings_are_decided_and_replay_with_other_content_is_409(world: World) -> None:
    bodies = [reading_body(PK, hr, s) for hr, s in PLAINTEXTS]
    SENT.extend(b[k] for b in bodies for k in ("heart_rate", "score"))
    for body in bodies:
        assert _post_reading(world, 0, json=body).status_code == 202
    rows = wait_all_done(world.database_url, len(bodies))
    SENT.extend(str(r["result"]) for r in rows)
    assert _post_reading(world, 0, json=bodies[0]).status_code == 200
    other = {**bodies[0], "score": bodies[1]["score"]}
    conflict = _post_reading(world, 0, json=other)
    assert conflict.status_code == 409 and "reading_id" in conflict.json()["detail"]
    _unchanged(world, rows)


JSON = {"content-type": "application/json"}


def _reading(**changes: str) -> dict[str, object]:
    return {"json": {**reading_body(PK, 700, 10), **changes}}


BAD_READINGS = [
    ("corrupt JSON", {"content": b'{"reading_id": ', "headers": JSON}, 422, "json"),
    ("oversized body", {"content": b"x" * (1024 * 1024 + 1), "headers": JSON}, 413, "larger"),
    ("wrong key id", _reading(key_id="0" * 16), 422, "key_id"),
    ("not base64", _reading(score="!!!!"), 422, "score"),
    ("out of range", _reading(heart_rate="/" * 344), 422, "heart_rate"),
    ("a third ciphertext", _reading(extra="AAAA"), 422, "extra"),
]


@pytest.mark.parametrize(
    ("name", "request_kwargs", "status", "names"), BAD_READINGS, ids=[c[0] for c in BAD_READINGS]
)
def test_bad_reading_is_refused_by_name_and_stores_nothing(
    world: World, name: str, request_kwargs: dict[str, object], status: int, names: str
) -> None:
    before = stored_readings(world.database_url)
    response = _post_reading(world, 1, **request_kwargs)
    assert response.status_code == status, (name, response.text)
    assert names in response.text.lower()
    _unchanged(world, before)


def test_too_many_packs_for_b_is_refused(world: World) -> None:
    pk, share_a, _ = system_key()
    one = compare_request(pk, share_a, physician_key()[0], [[(700, 10)]], (600, 1000, 5000))
    body = one.model_dump(mode="json")
    body["packs"] = body["packs"] * 65  # over MAX_PACKS_PER_REQUEST
    raw = json.dumps(body).encode()
    response = httpx.post(
        f"{world.servers.b_url}/v1/compare", content=raw, headers=signed(world.key_dir, raw)
    )
    assert response.status_code == 422 and "packs" in response.text


def test_a_device_over_its_rate_gets_429_with_retry_after(world: World) -> None:
    before = stored_readings(world.database_url)
    answers = [_post_reading(world, 2, json={"not": "a reading"}) for _ in range(24)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    # Another device is not slowed by this one.
    assert _post_reading(world, 1, json={"not": "a reading"}).status_code == 422
    _unchanged(world, before)


def test_the_limit_follows_the_device_not_the_spelling_of_its_header(world: World) -> None:
    """Security round 2, item 4: the bucket was keyed on the raw header, so ``bearer``
    instead of ``Bearer`` got a fresh one, and junk tokens each allocated a bucket and
    evicted a drained device's."""
    url = f"{world.a_url}/v1/readings"
    token = world.patients[2].device_token  # drained by the test above
    for spelling in (f"bearer {token}", f"BEARER {token}"):
        answer = httpx.post(url, headers={"Authorization": spelling}, json={}, timeout=30)
        assert answer.status_code == 429, (spelling.split()[0], answer.status_code)
    for i in range(20):  # refused before any bucket exists: they can evict nothing
        junk = httpx.post(url, headers=bearer(f"junk-token-{i:02d}"), json={}, timeout=30)
        assert junk.status_code == 401
    assert _post_reading(world, 2, json={}).status_code == 429


def test_metrics_count_without_values(world: World) -> None:
    scraper = bearer((world.key_dir / "metrics_token").read_text().strip())
    deadline = time.monotonic() + 2 * COUNT_EVERY_S  # the count is refreshed at most that often
    while True:
        text = httpx.get(f"{world.a_url}/metrics", headers=scraper).text
        if 'hrmon_a_readings{status="done"} 3.0' in text or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert 'hrmon_a_readings{status="done"} 3.0' in text
    assert 'hrmon_a_http_requests_total{handler="submit_reading",status="202"}' in text
    assert "hrmon_a_b_call_seconds_count" in text
    b_text = httpx.get(f"{world.servers.b_url}/metrics", headers=scraper).text
    assert "hrmon_b_http_requests_total" in b_text


@pytest.mark.parametrize("server", ["a", "b"])
def test_metrics_are_for_the_scraper_only(world: World, server: str) -> None:
    """Security round 2, item 8: /metrics was open to anyone (and ran a GROUP BY each)."""
    url = (world.a_url if server == "a" else world.servers.b_url) + "/metrics"
    for headers in ({}, bearer("not-the-metrics-token"), {"Authorization": "Basic eDp5"}):
        answer = httpx.get(url, headers=headers)
        assert answer.status_code == 401 and "metrics" in answer.json()["detail"]
        assert "hrmon_" not in answer.text


def test_logs_are_json_lines_without_values_ciphertexts_keys_or_tokens(world: World) -> None:
    """Runs last in this module: reads the logs of everything above."""
    share_a = json.loads((world.key_dir / "share_a.json").read_text())
    share_b = json.loads((world.key_dir / "share_b.json").read_text())
    secrets = [
        ab_secret(world.key_dir).decode(),
        (world.key_dir / "jwt_secret").read_text().strip(),
        (world.key_dir / "metrics_token").read_text().strip(),
        (world.key_dir / "enrolment_token").read_text().strip(),
        str(share_a["value"]),
        str(share_b["value"]),
        PASSWORD,
    ]
    forbidden = [s for s in SENT + secrets if s]
    plain = {str(v) for pair in PLAINTEXTS for v in pair}
    lines = 0
    for name in ("server_a.log", "server_b.log"):
        for line in (world.log_dir / name).read_text().splitlines():
            entry = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "logger", "msg"} <= entry.keys()
            leaked = [s[:8] + "..." for s in forbidden if s in line]
            assert not leaked, (name, entry["msg"], leaked)
            assert not plain & set(re.split(r"[^0-9]+", line)), (name, line)
            lines += 1
    assert lines > 20  # the requests above were logged


# --- weak configuration: the process refuses to start -------------------------------------


@pytest.mark.parametrize(
    ("server", "spoil", "expected"),
    [
        ("server_a", "jwt_secret", "placeholder"),
        ("server_a", "ab_secret", "placeholder"),
        ("server_b", "ab_secret", "placeholder"),
        ("server_a", "small key", "under 2048"),
        ("server_b", "small key", "under 2048"),
    ],
)
def test_weak_configuration_refuses_to_start(
    tmp_path: Path, server: str, spoil: str, expected: str
) -> None:
    keys = write_key_dir(tmp_path / "keys", system=system_key())
    # with the placeholder spoilt, test keys are allowed: only the placeholder is wrong
    env = server_env(insecure_test_keys=spoil != "small key")
    if spoil != "small key":
        (keys / spoil).write_text("changethis\n")
    args = ["--key-dir", str(keys), "--port", str(free_port())]
    if server == "server_a":
        args += ["--database-url", f"sqlite:///{tmp_path / 'a.sqlite3'}"]
    proc = subprocess.run(
        [sys.executable, "-m", server, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "refuses to start" in proc.stderr and expected in proc.stderr
    assert "changethis" not in proc.stderr
