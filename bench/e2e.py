"""End to end over loopback HTTP: both servers as real processes, one reading at a time.

Latency of a reading = from the device encrypting it (with precomputed noise, as an idle
device would have) to the physician holding the decrypted bit: POST to A, A's batch wait,
A's steps and PDec_1, B's steps over HTTP, the result pushed by server-sent events,
the physician's CRT decryption. Readings are sent one after another, so none is batched.
"""

from __future__ import annotations

import os
import queue
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import pipeline as pl
from bench.keys import BenchKeys
from bench.results import EndToEnd
from bench.stats import summarise
from protocol.ciphertext import decode_ciphertext, encode_ciphertext
from protocol.paillier import NoisePool, encrypt, key_id

READY_TIMEOUT_S = 90.0
RESULT_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{url} exited with {process.returncode}: {tail}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:.0f} s")


@contextmanager
def running_servers(keys: BenchKeys, directory: Path) -> Iterator[tuple[str, Path]]:
    """Start B then A (``python -m server_b`` / ``server_a``) on free loopback ports.

    Yields:
        A's base URL and the key directory.
    """
    from client.launcher import write_key_dir

    key_dir = write_key_dir(directory / "keys", system=(keys.pk, keys.share_a, keys.share_b))
    port_a, port_b = _free_port(), _free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    env = dict(os.environ)
    commands = {
        "b": [sys.executable, "-m", "server_b", "--port", str(port_b), "--key-dir", str(key_dir),
              "--log-level", "warning"],
        "a": [sys.executable, "-m", "server_a", "--port", str(port_a), "--key-dir", str(key_dir),
              "--database-url", f"sqlite:///{directory / 'a.sqlite3'}",
              "--server-b-url", url_b, "--log-level", "warning"],
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, url in (("b", url_b), ("a", url_a)):
            log = directory / f"server_{name}.log"
            with log.open("wb") as handle:
                process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                    commands[name], stdout=handle, stderr=subprocess.STDOUT, env=env
                )
            processes.append(process)
            _wait_ready(url, process, log)
        yield url_a, key_dir
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _listen(
    client: object, results: queue.Queue[tuple[str, str | None, float]], ready: threading.Event
) -> None:
    from client.api import ServerAClient

    assert isinstance(client, ServerAClient)
    ready.set()
    with suppress(Exception):  # the stream ends when the servers stop
        for event in client.events(timeout_s=RESULT_TIMEOUT_S):
            if event.status in ("done", "invalid"):
                results.put((event.reading_id, event.result, time.perf_counter()))


def measure_e2e(keys: BenchKeys, readings: int) -> EndToEnd:
    """Time ``readings`` readings (after one untimed warm-up) through both servers.

    Returns:
        p50/p95 latency, or ``available=False`` with the reason.
    """
    try:
        from client.api import ServerAClient
    except ImportError as exc:
        return EndToEnd(False, reason=f"client API unavailable: {exc}")
    with tempfile.TemporaryDirectory(prefix="hrmon-bench-") as tmp:
        try:
            with running_servers(keys, Path(tmp)) as (url, key_dir):
                token = (key_dir / "enrolment_token").read_text().strip()
                password = secrets.token_urlsafe(16)
                username = f"bench-{secrets.token_hex(4)}"
                physician = ServerAClient(url)
                pk_d = keys.pk_physician
                physician.enrol_physician(
                    token, username, password, {"key_id": key_id(pk_d), "n": hex(pk_d.n)}
                )
                physician.login(username, password)
                patient = physician.add_patient("bench patient")
                pk = keys.pk
                physician.set_range(
                    patient.patient_id,
                    {
                        "key_id": key_id(pk),
                        **{
                            name: encode_ciphertext(pk, encrypt(pk, value))
                            for name, value in (
                                ("low", pl.LOW), ("high", pl.HIGH), ("threshold", pl.THRESHOLD)
                            )
                        },
                    },
                )  # fmt: skip
                listener = ServerAClient(url, physician.token)
                device = ServerAClient(url, patient.device_token)
                device_noise = NoisePool(pk, 0)
                device_noise.fill(2 * (readings + 1))
                arrivals: queue.Queue[tuple[str, str | None, float]] = queue.Queue()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_listen, args=(listener, arrivals, ready), daemon=True
                )
                thread.start()
                ready.wait()
                latencies, submits = [], []
                for index, (hr, score) in enumerate(pl.sample_readings(readings + 1)):
                    start = time.perf_counter()
                    body = {
                        "reading_id": str(uuid.uuid4()),
                        "key_id": key_id(pk),
                        "taken_at": datetime.now(UTC).isoformat(),
                        "heart_rate": encode_ciphertext(pk, encrypt(pk, hr, device_noise.take())),
                        "score": encode_ciphertext(pk, encrypt(pk, score, device_noise.take())),
                    }
                    device.submit_reading(body)
                    posted = time.perf_counter()
                    reading_id, result, _ = arrivals.get(timeout=RESULT_TIMEOUT_S)
                    if reading_id != body["reading_id"] or result is None:
                        raise RuntimeError("a result for another reading, or an invalid one")
                    bit = pl.physician_decrypt(keys, decode_ciphertext(pk_d, result, "result"))
                    done = time.perf_counter()
                    if bit != pl.expected_bit(hr, score):
                        raise RuntimeError("end to end produced a wrong bit")
                    if index > 0:  # the first reading warms both servers up
                        latencies.append((done - start) * 1000)
                        submits.append((posted - start) * 1000)
                for client in (device, listener, physician):
                    client.close()
        except Exception as exc:  # report why, never a number
            return EndToEnd(False, reason=f"{type(exc).__name__}: {exc}"[:300])
    return EndToEnd(
        True, latency=summarise(latencies), submit=summarise(submits), readings=readings
    )
