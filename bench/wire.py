"""Bytes on the wire per reading, each direction: the JSON bodies of docs/api.md.

Bodies are built with the shared pydantic models from real ciphertexts of this key size
(fixed-length base64, so every reading costs the same). HTTP headers are not counted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from bench import pipeline as pl
from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol import messages as msg
from protocol.ciphertext import encode_ciphertext
from protocol.modes.baseline import BaselineA, BaselineB
from protocol.modes.memory import jobs_for
from protocol.paillier import encrypt, key_id
from protocol.transport import InMemoryTransport, Response, Route


@dataclass(frozen=True)
class WireRow:
    """One message's body size.

    Attributes:
        direction: sender -> receiver.
        message: the model's name.
        bytes_per_reading: body bytes, amortised per reading where a message carries many.
        note: unbatched or per reading of a full pack.
        readings_per_message: 1, or the pack's readings the size is amortised over.
    """

    direction: str
    message: str
    bytes_per_reading: float
    note: str
    readings_per_message: int = 1


class _RecordingTransport(InMemoryTransport):
    """B in this process; each call's request and answer body size, in call order."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        super().__init__(routes)
        self.bodies: list[tuple[str, int, int]] = []

    async def call(self, route: str, request: BaseModel, response_type: type[Response]) -> Response:
        response = await super().call(route, request, response_type)
        self.bodies.append((route, len(request.model_dump_json()), len(response.model_dump_json())))
        return response


def _exchange_bodies(keys: BenchKeys, readings: int) -> list[tuple[str, int, int]]:
    """The baseline mode's calls to B for one pack of ``readings``: (route, request bytes,
    answer bytes) each, as the services make them (B's partial decryption ahead)."""
    work = pl.make_workload(keys, readings)
    pools = pl.Pools.empty(keys)
    encrypted = [pl.device_encrypt(keys, p, pools) for p in work.plain]
    mode_a = BaselineA(keys.share_a, pools.a_noise)
    prepared = mode_a.prepare(jobs_for(encrypted, work.bounds, keys.pk_physician))
    assert len(prepared.packs) == 1
    mode_b = BaselineB(keys.share_b, keys.pk_physician.n.bit_length(), pools.b_noise)
    transport = _RecordingTransport(mode_b.routes)
    outcome = asyncio.run(mode_a.exchange(prepared, transport))
    assert len(outcome.answers) == readings
    return transport.bodies


def measure_wire(keys: BenchKeys) -> list[WireRow]:
    """Body sizes of every message one reading causes, unbatched and packed."""
    pk, pk_d = keys.pk, keys.pk_physician
    now = datetime.now(UTC)
    reading_id, patient_id = uuid.uuid4(), uuid.uuid4()
    submit = msg.ReadingIn(
        reading_id=reading_id,
        key_id=key_id(pk),
        taken_at=now,
        heart_rate=encode_ciphertext(pk, encrypt(pk, 724)),
        score=encode_ciphertext(pk, encrypt(pk, 1234)),
        irregularity=encode_ciphertext(pk, encrypt(pk, 321)),
        rate_missing=encode_ciphertext(pk, encrypt(pk, 0)),
    )
    accepted = msg.ReadingAccepted(reading_id=reading_id)
    result = msg.ResultOut(
        reading_id=reading_id,
        patient_id=patient_id,
        taken_at=now,
        received_at=now,
        status="done",
        result=encode_ciphertext(pk_d, encrypt(pk_d, 0)),
    )
    per_pack = cmp.readings_per_pack(pk)
    rows = [
        WireRow("device -> A", "ReadingIn", len(submit.model_dump_json()), "POST /v1/readings"),
        WireRow("A -> device", "ReadingAccepted", len(accepted.model_dump_json()), "202"),
    ]
    sizes = [(1, "1 reading per pack")]
    if per_pack > 1:
        sizes.append((per_pack, f"{per_pack} readings per pack"))
    for readings, note in sizes:
        for route, request_bytes, answer_bytes in _exchange_bodies(keys, readings):
            rows.append(WireRow("A -> B", route, request_bytes / readings, note, readings))
            rows.append(WireRow("B -> A", route, answer_bytes / readings, note, readings))
    rows.append(
        WireRow("A -> physician", "ResultOut", len(result.model_dump_json()), "GET results / SSE")
    )
    return rows
