"""Both halves of a mode in one process: what the bench times and the tests check.

The same :func:`~protocol.modes.base.compare_jobs` as server A's worker, with B's half
behind an :class:`~protocol.transport.InMemoryTransport` instead of HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from protocol import comparison as cmp
from protocol.messages import PhysicianPublicKey
from protocol.modes.base import Job, ModeA, ModeB, Offload, Outcome, compare_jobs, inline
from protocol.paillier import PublicKey, key_id
from protocol.transport import InMemoryTransport


def jobs_for(
    readings: Sequence[cmp.EncryptedReading],
    bounds: cmp.EncryptedBounds,
    pk_physician: PublicKey,
    patient_id: str = "patient",
) -> list[Job]:
    """One patient's readings as jobs, ids ``"0"``, ``"1"``, ... in order."""
    entry = PhysicianPublicKey(key_id=key_id(pk_physician), n=hex(pk_physician.n))
    return [
        Job(str(i), patient_id, reading, bounds, entry, pk_physician)
        for i, reading in enumerate(readings)
    ]


def compare_in_memory(
    mode_a: ModeA[Any], mode_b: ModeB, jobs: Sequence[Job], offload: Offload = inline
) -> tuple[Outcome, InMemoryTransport]:
    """The comparison of ``jobs`` with both halves here; the transport holds B's seconds.

    ``offload=asyncio.to_thread`` runs A's CPU work between rounds on a thread, as server
    A does: A's PDec_1 then overlaps B's PDec_2 (computed here, on the event loop).
    """
    transport = InMemoryTransport(mode_b.routes)
    outcome = asyncio.run(compare_jobs(mode_a, jobs, transport, offload=offload))
    return outcome, transport


def answers_in_order(outcome: Outcome, jobs: Sequence[Job]) -> list[str | None]:
    """B's answer per job in input order (None: invalid, caught by the guard bits)."""
    return [outcome.answers.get(job.reading_id) for job in jobs]
