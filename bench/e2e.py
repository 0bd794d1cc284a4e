"""End to end over loopback HTTP: both servers as real processes, one reading at a time.

Latency of a reading = from the device encrypting it (with precomputed noise, as an idle
device would have) to the physician holding the decrypted bit: POST to A, A's batch wait,
A's steps and PDec_1, B's steps over HTTP, the result pushed by server-sent events,
the physician's CRT decryption. Readings are sent one after another, so none is batched.
"""

from __future__ import annotations

import queue
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench import pipeline as pl
from bench.keys import BenchKeys
from bench.results import EndToEnd
from bench.stats import summarise
from protocol.ciphertext import decode_ciphertext, encode_ciphertext
from protocol.messages import READING_CIPHERTEXTS
from protocol.modes import ModeName
from protocol.paillier import NoisePool, encrypt, key_id
from protocol.params import MIN_KEY_BITS

if TYPE_CHECKING:
    from client.api import ServerAClient

READY_TIMEOUT_S = 90.0
RESULT_TIMEOUT_S = 60.0


@contextmanager
def running_servers(
    keys: BenchKeys, directory: Path, mode: ModeName = "baseline"
) -> Iterator[tuple[str, Path]]:
    """Both servers as real processes on free loopback ports (``ops.launcher``), in
    ``mode`` (zero-leakage: with the bench's DGK key for this key size).

    Yields:
        A's base URL and the key directory.
    """
    from ops.launcher import launch_servers, write_key_dir

    key_dir = write_key_dir(directory / "keys", system=(keys.pk, keys.share_a, keys.share_b))
    if mode == "zero-leakage":
        from bench.zero_leakage import dgk_key_for
        from service_common.key_dir import write_dgk_key_files

        write_dgk_key_files(key_dir, dgk_key_for(keys.bits))
    with launch_servers(
        key_dir,
        database_url=f"sqlite:///{directory / 'a.sqlite3'}",
        log_dir=directory,
        insecure_test_keys=keys.bits < MIN_KEY_BITS,
        ready_timeout_s=READY_TIMEOUT_S,
        env={"HRMON_COMPARISON_MODE": mode},
    ) as servers:
        yield servers.a_url, key_dir


def _listen(
    client: object, results: queue.Queue[tuple[str, str | None, float]], ready: threading.Event
) -> None:
    from client.api import ServerAClient

    assert isinstance(client, ServerAClient)
    ready.set()
    with suppress(Exception):  # the stream ends when the servers stop
        for event in client.events(timeout_s=RESULT_TIMEOUT_S):
            if event.status in ("done", "invalid"):
                results.put((str(event.reading_id), event.result, time.perf_counter()))


def range_body(keys: BenchKeys) -> dict[str, str]:
    """The bench patient's range, encrypted as the physician's tools would."""
    pk = keys.pk
    return {
        "key_id": key_id(pk),
        **{
            name: encode_ciphertext(pk, encrypt(pk, value))
            for name, value in (
                ("low", pl.LOW), ("high", pl.HIGH), ("threshold", pl.THRESHOLD),
                ("irregularity_threshold", pl.IRREGULARITY_THRESHOLD),
            )
        },
    }  # fmt: skip


def enrolled_physician(keys: BenchKeys, url: str, key_dir: Path) -> ServerAClient:
    """A physician enrolled and signed in over HTTP, with the bench's pk_D."""
    from client.api import ServerAClient

    token = (key_dir / "enrolment_token").read_text().strip()
    password = secrets.token_urlsafe(16)
    username = f"bench-{secrets.token_hex(4)}"
    physician = ServerAClient(url)
    pk_d = keys.pk_physician
    physician.enrol_physician(token, username, password, {"key_id": key_id(pk_d), "n": hex(pk_d.n)})
    physician.login(username, password)
    return physician


def reading_body(keys: BenchKeys, plain: pl.Plain, noise: NoisePool) -> dict[str, str]:
    """A device's ``POST /v1/readings`` body, encrypted with precomputed noise."""
    pk = keys.pk
    return {
        "reading_id": str(uuid.uuid4()),
        "key_id": key_id(pk),
        "taken_at": datetime.now(UTC).isoformat(),
        **{
            field: encode_ciphertext(pk, encrypt(pk, value, noise.take()))
            for field, value in zip(READING_CIPHERTEXTS, plain, strict=True)
        },
    }


def measure_e2e(keys: BenchKeys, readings: int, mode: ModeName = "baseline") -> EndToEnd:
    """Time ``readings`` readings (after one untimed warm-up) through both servers in
    ``mode``.

    Returns:
        p50/p95 latency, or ``available=False`` with the reason.
    """
    try:
        from client.api import ServerAClient
    except ImportError as exc:
        return EndToEnd(False, reason=f"client API unavailable: {exc}")
    with tempfile.TemporaryDirectory(prefix="hrmon-bench-") as tmp:
        try:
            with running_servers(keys, Path(tmp), mode) as (url, key_dir):
                physician = enrolled_physician(keys, url, key_dir)
                pk, pk_d = keys.pk, keys.pk_physician
                patient = physician.add_patient("bench patient")
                physician.set_range(patient.patient_id, range_body(keys))
                listener = ServerAClient(url, physician.token)
                device = ServerAClient(url, patient.device_token)
                device_noise = NoisePool(pk, 0)
                device_noise.fill(4 * (readings + 1))
                arrivals: queue.Queue[tuple[str, str | None, float]] = queue.Queue()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_listen, args=(listener, arrivals, ready), daemon=True
                )
                thread.start()
                ready.wait()
                latencies, submits = [], []
                for index, plain in enumerate(pl.sample_readings(readings + 1)):
                    start = time.perf_counter()
                    body = reading_body(keys, plain, device_noise)
                    device.submit_reading(body)
                    posted = time.perf_counter()
                    reading_id, result, _ = arrivals.get(timeout=RESULT_TIMEOUT_S)
                    if reading_id != body["reading_id"] or result is None:
                        raise RuntimeError("a result for another reading, or an invalid one")
                    bit = pl.physician_decrypt(keys, decode_ciphertext(pk_d, result, "result"))
                    done = time.perf_counter()
                    if bit != pl.expected_bit(plain):
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
