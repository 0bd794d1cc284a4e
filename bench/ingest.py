"""Ingestion under load: many devices sending at once while the comparison runs.

``devices`` patients, each with its own device token and range, send ``per_device``
readings each, all devices at once over loopback HTTP (one connection per device), to
both servers as real processes. Timed per ``POST /v1/readings``: until the 202
acknowledgement. The comparison of the earlier readings runs meanwhile in the same
server A, which is the point: a device must never wait on it. Every reading must then be
decided (the run waits for it, untimed), and every connection error is counted.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import pipeline as pl
from bench.e2e import enrolled_physician, range_body, reading_body, running_servers
from bench.keys import BenchKeys
from bench.stats import Summary, summarise
from protocol.paillier import NoisePool

DECIDE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class IngestResult:
    """Acknowledgement latency and rate under load, or why it was not measured.

    Attributes:
        available: whether it ran.
        reason: why not.
        ack: per-POST latency to the 202, ms.
        acks_per_s: acknowledgements per second of the sending window.
        errors: connection errors or non-202 answers.
        readings: how many were sent.
        decided_s: from the first POST until every reading was decided.
    """

    available: bool
    reason: str = ""
    ack: Summary | None = None
    acks_per_s: float = 0.0
    errors: int = 0
    readings: int = 0
    decided_s: float = 0.0


def _requests(url: str, token: str, bodies: list[dict[str, str]]) -> list[bytes]:
    """Each body as the bytes of one ``POST /v1/readings`` (HTTP/1.1, keep-alive)."""
    host = httpx.URL(url).netloc.decode()
    out = []
    for body in bodies:
        payload = json.dumps(body).encode()
        head = (
            f"POST /v1/readings HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        out.append(head.encode() + payload)
    return out


async def _answer_status(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer with a Content-Length body; its status code."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _device(url: str, requests: list[bytes], latencies: list[float]) -> int:
    """One device sending its readings one after another on one connection; its errors.

    The load generator speaks HTTP/1.1 itself, from requests encoded beforehand (as wrk
    does): through httpx it spent about 5.5 ms of CPU per request, more than server A,
    on the same two cores, and so measured itself.
    """
    target = httpx.URL(url)
    errors = answered = 0
    writer = None
    try:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await _answer_status(reader)
            latencies.append((time.perf_counter() - start) * 1000)
            answered += 1
            errors += status != 202
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        errors += len(requests) - answered  # the connection broke: the rest never went
    finally:
        if writer is not None:
            writer.close()
    return errors


async def _send_all(
    url: str, tokens: list[str], bodies: list[list[dict[str, str]]]
) -> tuple[list[float], int, float]:
    requests = [_requests(url, t, b) for t, b in zip(tokens, bodies, strict=True)]
    latencies: list[float] = []
    start = time.perf_counter()
    errors = await asyncio.gather(*(_device(url, r, latencies) for r in requests))
    return latencies, sum(errors), time.perf_counter() - start


def measure_ingest(keys: BenchKeys, devices: int, per_device: int) -> IngestResult:
    """Send ``devices`` x ``per_device`` readings at once; see the module docstring."""
    try:
        with (
            tempfile.TemporaryDirectory(prefix="hrmon-ingest-") as tmp,
            running_servers(keys, Path(tmp)) as (url, key_dir),
        ):
            physician = enrolled_physician(keys, url, key_dir)
            tokens, patients = [], []
            for i in range(devices):
                patient = physician.add_patient(f"ingest patient {i}")
                physician.set_range(patient.patient_id, range_body(keys))
                tokens.append(patient.device_token)
                patients.append(patient.patient_id)
            noise = NoisePool(keys.pk, 0)
            noise.fill(4 * devices * per_device)  # the devices encrypted beforehand
            plain = pl.sample_readings(devices * per_device)
            bodies = [
                [reading_body(keys, p, noise) for p in plain[d::devices]] for d in range(devices)
            ]
            started = time.perf_counter()
            latencies, errors, window = asyncio.run(_send_all(url, tokens, bodies))
            _wait_decided(physician, patients, per_device)
            decided = time.perf_counter() - started
            physician.close()
    except Exception as exc:  # report why, never a number
        return IngestResult(False, reason=f"{type(exc).__name__}: {exc}"[:300])
    if not latencies:
        return IngestResult(False, reason="no reading was acknowledged", errors=errors)
    return IngestResult(
        True,
        ack=summarise(latencies),
        acks_per_s=len(latencies) / window,
        errors=errors,
        readings=devices * per_device,
        decided_s=decided,
    )


def _wait_decided(physician: object, patients: list[str], per_patient: int) -> None:
    """Until every patient has ``per_patient`` readings and none is pending."""
    from client.api import ServerAClient

    assert isinstance(physician, ServerAClient)
    deadline = time.monotonic() + DECIDE_TIMEOUT_S
    waiting = list(patients)
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} patients still have pending readings")
        still = []
        for patient_id in waiting:
            results = physician.results(patient_id, limit=per_patient)
            if len(results) < per_patient or any(r.status == "pending" for r in results):
                still.append(patient_id)
        waiting = still
        if waiting:
            time.sleep(1.0)
