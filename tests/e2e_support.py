"""Helpers of the end-to-end tests over real server processes: two physicians, event
streams read in threads, waiting for decisions."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ops.launcher import LocalServers
from protocol.ciphertext import decode_ciphertext
from protocol.paillier import PrivateKey, PublicKey, decrypt
from tests.service_helpers import (
    PASSWORD,
    bearer,
    enrol_body,
    enrolment_headers,
    expected_bit,
    range_body,
    reading_body,
)

RANGES = {"dr.a": (600, 1000, 5000, 1500), "dr.b": (550, 1200, 3000, 2500)}


def grid(low: int, high: int, threshold: int, rho: int) -> list[tuple[int, int, int, int]]:
    """(hr, score, irregularity, rate_missing): every bound's neighbours; the rhythm's with
    a rate and score inside (q = 0: not judged, which never counts as irregular); and
    readings without a heart rate (m = 1, hr = 0) next to the score's and rhythm's bounds."""
    heart_rates = [low - 1, low, low + 1, high - 1, high, high + 1]
    scores = [threshold - 1, threshold, threshold + 1]
    values = [(hr, s, 0, 0) for hr, s in itertools.product(heart_rates, scores)]
    values += [(low + 1, threshold - 1, q, 0) for q in (rho - 1, rho, rho + 1)]
    return values + [(0, s, q, 1) for s, q in ((threshold - 1, 0), (threshold, 0), (0, rho))]


class EventCollector:
    """Reads one physician's /v1/events stream in a thread."""

    def __init__(self, base_url: str, token: str) -> None:
        self.events: list[dict[str, str]] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url, token), daemon=True)
        self._thread.start()

    def _run(self, base_url: str, token: str) -> None:
        try:
            self._read(base_url, token)
        except httpx.TransportError:
            if not self._stop.is_set():  # the servers stopping at the end is expected
                raise

    def _read(self, base_url: str, token: str) -> None:
        timeout = httpx.Timeout(5, read=60)
        with (
            httpx.Client(base_url=base_url, timeout=timeout) as http,
            http.stream("GET", "/v1/events", headers=bearer(token)) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            event: dict[str, str] = {}
            for line in response.iter_lines():
                self.connected.set()
                if self._stop.is_set():
                    return
                if line.startswith(("event:", "data:", "id:")):
                    key, _, value = line.partition(":")
                    event[key] = value.strip()
                elif not line and "data" in event:
                    self.events.append(event)
                    event = {}

    def stop(self) -> None:
        self._stop.set()


def sign_in(http: httpx.Client, key_dir: Path, username: str, pk_d: PublicKey) -> str:
    response = http.post(
        "/v1/physicians", json=enrol_body(username, pk_d), headers=enrolment_headers(key_dir)
    )
    assert response.status_code == 201, response.text
    token = http.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def wait_decided(
    http: httpx.Client, token: str, patient_id: str, count: int
) -> list[dict[str, str]]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        results = http.get(
            f"/v1/patients/{patient_id}/results", params={"limit": 1000}, headers=bearer(token)
        ).json()
        if len(results) == count and all(r["status"] == "done" for r in results):
            return list(results)
        time.sleep(0.05)
    raise AssertionError(f"not decided in time: {results}")


def run_two_physicians(
    servers: LocalServers,
    key_dir: Path,
    pk: PublicKey,
    physicians: dict[str, tuple[PublicKey, PrivateKey]],
    stop_b_while_submitting: bool,
) -> None:
    with httpx.Client(base_url=servers.a_url, timeout=30) as http:
        assert http.get("/v1/system-key").json()["n"] == hex(pk.n)
        setup = {}
        for username, (pk_d, _) in physicians.items():
            token = sign_in(http, key_dir, username, pk_d)
            created = http.post("/v1/patients", json={"label": username}, headers=bearer(token))
            patient_id, device = created.json()["patient_id"], created.json()["device_token"]
            response = http.put(
                f"/v1/patients/{patient_id}/range",
                json=range_body(pk, *RANGES[username]),
                headers=bearer(token),
            )
            assert response.status_code == 200, response.text
            setup[username] = (token, patient_id, device)
        streams = {u: EventCollector(servers.a_url, setup[u][0]) for u in physicians}
        for stream in streams.values():
            assert stream.connected.wait(30)
        if stop_b_while_submitting:
            servers.b.kill()  # readings pile up; B's return sends them across both patients
        sent: dict[str, dict[str, tuple[int, int, int, int]]] = {u: {} for u in physicians}
        start = datetime(2026, 3, 1, tzinfo=UTC)
        values = {u: grid(*RANGES[u]) for u in physicians}
        for i in range(max(len(v) for v in values.values())):
            for username, (_, _, device) in setup.items():
                if i < len(values[username]):
                    hr, score, q, m = values[username][i]
                    body = reading_body(pk, hr, score, start + timedelta(seconds=i), q, m)
                    response = http.post("/v1/readings", json=body, headers=bearer(device))
                    assert response.status_code == 202, response.text
                    sent[username][body["reading_id"]] = (hr, score, q, m)
        if stop_b_while_submitting:
            servers.b.start()
        for username, (pk_d, sk_d) in physicians.items():
            token, patient_id, _ = setup[username]
            results = wait_decided(http, token, patient_id, len(sent[username]))
            got = {
                r["reading_id"]: decrypt(sk_d, decode_ciphertext(pk_d, r["result"]))
                for r in results
            }
            low, high, threshold, rho = RANGES[username]
            want = {
                rid: expected_bit(hr, s, low, high, threshold, q, rho, m)
                for rid, (hr, s, q, m) in sent[username].items()
            }
            assert got == want
            assert set(got.values()) == {0, 1}
            tally = http.get(f"/v1/patients/{patient_id}/tally", headers=bearer(token)).json()
            assert decrypt(sk_d, decode_ciphertext(pk_d, tally["tally"])) == sum(want.values())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            len(streams[u].events) < len(sent[u]) for u in physicians
        ):
            time.sleep(0.05)
        for username, stream in streams.items():
            stream.stop()
            seen = {json.loads(e["data"])["reading_id"] for e in stream.events}
            assert seen == set(sent[username])  # all of their own, none of the other's
            assert {e["event"] for e in stream.events} == {"result"}
