"""End to end over loopback HTTP: both servers as real processes, one reading at a time.

Latency of a reading = from the device encrypting it (with precomputed noise, as an idle
device would have) to the physician holding the decrypted bit: POST to A, A's steps and
PDec_1, B's steps over HTTP, the result pushed by server-sent events, the physician's
decryption. Readings are sent one at a time, so none is batched, in two sequences:

- **paced** (the headline): :data:`PACE_S` between one reading's result and the next
  reading, as a wearable sends one per window, seconds apart. The servers have refilled
  the noise that the last reading used, so this is the latency of a reading that finds
  them idle.
- **back to back**: the next reading right after the last result. Each reading's refill
  (about nine full-size r^N, ~8 ms each) then runs beside the next reading's partial
  decryptions, so this one measures a loaded pair of servers as much as a reading.
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
PACE_S = 0.5
"""Between a result and the next paced reading: longer than either server's refill of one
reading's noise in either mode."""


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
    """Time ``readings`` readings back to back, then ``readings`` paced ones (after one
    untimed warm-up), through both servers in ``mode``.

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
                patient = physician.add_patient("bench patient")
                physician.set_range(patient.patient_id, range_body(keys))
                listener = ServerAClient(url, physician.token)
                device = ServerAClient(url, patient.device_token)
                device_noise = NoisePool(keys.pk, 0)
                device_noise.fill(len(READING_CIPHERTEXTS) * (2 * readings + 1))
                arrivals: queue.Queue[tuple[str, str | None, float]] = queue.Queue()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_listen, args=(listener, arrivals, ready), daemon=True
                )
                thread.start()
                ready.wait()
                paced: list[float] = []
                back_to_back: list[float] = []
                submits: list[float] = []
                for index, plain in enumerate(pl.sample_readings(2 * readings + 1)):
                    if index > readings:  # the second half: paced
                        time.sleep(PACE_S)
                    latency, submit = _one_reading(keys, device, arrivals, plain, device_noise)
                    if index == 0:  # the first reading warms both servers up
                        continue
                    (back_to_back if index <= readings else paced).append(latency)
                    submits.append(submit)
                for client in (device, listener, physician):
                    client.close()
        except Exception as exc:  # report why, never a number
            return EndToEnd(False, reason=f"{type(exc).__name__}: {exc}"[:300])
    return EndToEnd(
        True,
        latency=summarise(paced),
        submit=summarise(submits),
        readings=readings,
        back_to_back=summarise(back_to_back),
    )


def _one_reading(
    keys: BenchKeys,
    device: ServerAClient,
    arrivals: queue.Queue[tuple[str, str | None, float]],
    plain: pl.Plain,
    device_noise: NoisePool,
) -> tuple[float, float]:
    """One reading from encryption to the physician's bit: (latency, the POST alone), ms.

    Raises:
        RuntimeError: a result for another reading, an invalid one, or a wrong bit.
    """
    start = time.perf_counter()
    body = reading_body(keys, plain, device_noise)
    device.submit_reading(body)
    posted = time.perf_counter()
    reading_id, result, _ = arrivals.get(timeout=RESULT_TIMEOUT_S)
    if reading_id != body["reading_id"] or result is None:
        raise RuntimeError("a result for another reading, or an invalid one")
    bit = pl.physician_decrypt(keys, decode_ciphertext(keys.pk_physician, result, "result"))
    done = time.perf_counter()
    if bit != pl.expected_bit(plain):
        raise RuntimeError("end to end produced a wrong bit")
    return (done - start) * 1000, (posted - start) * 1000
