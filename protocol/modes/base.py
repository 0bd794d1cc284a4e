"""What every comparison mode shares: the job, the outcome, the driver, B's field checks.

A mode is a pair of halves: A's (``prepare`` a batch of jobs, then ``exchange`` it with B
over a :class:`~protocol.transport.Transport`) and B's (a table of routes). Server A,
server B, the bench and the tests all drive these same objects; :func:`compare_jobs` is
the one orchestration of a batch, out-of-band re-runs included.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from protocol import comparison as cmp
from protocol import dgk
from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.keys import KeyShare
from protocol.messages import PhysicianPublicKey
from protocol.paillier import PublicKey, key_id
from protocol.sealed_share import (
    PARTIAL_DECRYPT,
    PartialDecryptRequest,
    PartialDecryptResponse,
    SealError,
    ShareSealer,
)
from protocol.transport import FieldError, PeerError, Route, Transport

T = TypeVar("T")
Noise = Callable[[PublicKey], int]
"""A never-used r^N under the given key (a pool's ``take``)."""
Offload = Callable[..., Awaitable[Any]]
"""Runs ``fn(*args)`` off the event loop (``asyncio.to_thread``) or inline."""


async def inline(fn: Callable[..., T], *args: Any) -> T:
    """The :data:`Offload` of the bench and tests: in this thread, now."""
    return fn(*args)


@dataclass(frozen=True)
class Job:
    """One reading to compare, decoded once by A from what it stored.

    Attributes:
        reading_id: A's id (never sent to B).
        patient_id: packs hold one patient's readings only (see :func:`pack_groups`).
        reading: E(hr), E(score) under the system key.
        bounds: the patient's E(lo), E(hi), E(tau).
        physician: pk_D as sent to B (its stored key id and modulus).
        physician_key: the same key, parsed.
    """

    reading_id: str
    patient_id: str
    reading: cmp.EncryptedReading
    bounds: cmp.EncryptedBounds
    physician: PhysicianPublicKey
    physician_key: PublicKey

    def __repr__(self) -> str:  # ciphertexts stay out of logs
        return f"Job({self.reading_id})"


@dataclass
class Outcome:
    """What a batch came to: Enc_pkD(bit) per answered reading, and the rest.

    Attributes:
        answers: reading id -> B's answer, checked to be a ciphertext under pk_D.
        invalid: readings that fail the guard bits alone in their pack (a crafted value).
        isolate: readings of an out-of-band pack of several: re-run one per pack.
    """

    answers: dict[str, str] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    isolate: set[str] = field(default_factory=set)


class Prepared(Protocol):
    """A's round-one work for a batch; ``packs`` lists the jobs per pack in slot order."""

    packs: list[list[Job]]


P = TypeVar("P", bound=Prepared)


class ModeA(Protocol[P]):
    """A's half of a mode: holds SK1 and its noise; no I/O of its own."""

    name: str
    readings_per_pack: int

    def prepare(self, jobs: Sequence[Job], isolate: Collection[str] = ()) -> P:
        """Round one's CPU work (picklable in and out: it may run in a crypto process)."""
        ...

    async def exchange(
        self, prepared: P, transport: Transport, offload: Offload = inline
    ) -> Outcome:
        """Every round with B for a prepared batch."""
        ...


class ModeB(Protocol):
    """B's half of a mode: its routes (B keeps nothing between calls)."""

    name: str
    routes: Mapping[str, Route]


def pack_capacity(requested: int, fits: int) -> int:
    """Readings per pack: ``requested`` (0: as many as fit), never more than ``fits``."""
    return min(requested or fits, fits)


def pack_groups(
    jobs: Sequence[Job], per_pack: int, isolate: Collection[str] = ()
) -> list[list[Job]]:
    """Readings that may share one packed ciphertext: one patient's readings only.

    A crafted out-of-bound value (e.g. score = tau - 2^(k-1)) borrows from the next slot
    while every slot stays inside the honest band, so no guard bit sees it; packing by
    patient confines that damage to the crafting device's own patient. Readings in
    ``isolate`` (re-runs after an out-of-band pack) get a pack each.
    """
    by_patient: defaultdict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_patient[job.patient_id].append(job)
    groups: list[list[Job]] = []
    for patient_jobs in by_patient.values():
        groups.extend([j] for j in patient_jobs if j.reading_id in isolate)
        regular = [j for j in patient_jobs if j.reading_id not in isolate]
        groups.extend(regular[s : s + per_pack] for s in range(0, len(regular), per_pack))
    return groups


def physician_entries(jobs: Sequence[Job]) -> list[PhysicianPublicKey]:
    """Each physician key of ``jobs`` once, in first-seen order."""
    seen: dict[str, PhysicianPublicKey] = {}
    for job in jobs:
        seen.setdefault(job.physician.key_id, job.physician)
    return list(seen.values())


def out_of_band(group: list[Job], outcome: Outcome) -> None:
    """Record a pack B rejected: alone it is invalid, else its readings go one per pack."""
    if len(group) == 1:
        outcome.invalid.append(group[0].reading_id)
    else:
        outcome.isolate.update(j.reading_id for j in group)


def accept_answers(jobs: Sequence[Job], answers: Sequence[str], outcome: Outcome) -> None:
    """B's answers for ``jobs`` in order, each checked to be a ciphertext under its pk_D.

    Raises:
        PeerError: the count does not match or an answer is not a ciphertext.
    """
    if len(answers) != len(jobs):
        raise PeerError("answer count does not match the readings sent")
    for job, text in zip(jobs, answers, strict=True):
        try:
            decode_ciphertext(job.physician_key, text, "answer")
        except CiphertextError:
            raise PeerError("an answer is not a ciphertext under pk_D") from None
        outcome.answers[job.reading_id] = text


def _partial_decryptions(share: KeyShare, packs: Sequence[int]) -> list[str]:
    return [encode_ciphertext(share.public_key, share.partial_decrypt(c)) for c in packs]


async def partial_decryptions(
    share: KeyShare,
    packs: Sequence[int],
    transport: Transport,
    offload: Offload = inline,
    *,
    ahead: bool = True,
) -> list[tuple[str, str | None]]:
    """A's PDec_1 of each pack, with B's sealed PDec_2 of it when ``ahead``.

    With ``ahead`` (the default), A asks B for its share *before* computing its own, so
    the two exponentiations run at once (``protocol.sealed_share``); without, B computes
    PDec_2 when the pack arrives, after A's PDec_1, as in DESIGN.md.

    Raises:
        PeerError: B did not answer the partial decryption usefully.
    """
    if not ahead:
        own = await offload(_partial_decryptions, share, packs)
        return [(pdec1, None) for pdec1 in own]
    request = PartialDecryptRequest(
        system_key_id=key_id(share.public_key),
        ciphertexts=[encode_ciphertext(share.public_key, c) for c in packs],
    )
    own, theirs = await asyncio.gather(
        offload(_partial_decryptions, share, packs),
        transport.call(PARTIAL_DECRYPT, request, PartialDecryptResponse),
    )
    if len(theirs.sealed) != len(packs):
        raise PeerError("sealed share count does not match the packs sent")
    return list(zip(own, theirs.sealed, strict=True))


async def compare_jobs(
    mode: ModeA[P],
    jobs: Sequence[Job],
    transport: Transport,
    *,
    prepare: Callable[[Sequence[Job], frozenset[str]], Awaitable[P]] | None = None,
    offload: Offload = inline,
) -> Outcome:
    """The whole comparison of a batch: prepare, exchange, and re-run one per pack the
    readings of a pack B rejected, so only a crafted value ends ``invalid``.

    Args:
        mode: A's half.
        jobs: the batch.
        transport: the way to B.
        prepare: runs ``mode.prepare`` elsewhere (server A's crypto process); default
            ``offload``.
        offload: where the CPU work between rounds runs.

    Raises:
        PeerError: B did not answer usefully (the batch stays pending).
    """

    async def prepared(batch: Sequence[Job], isolate: frozenset[str]) -> P:
        if prepare is not None:
            return await prepare(batch, isolate)
        result: P = await offload(mode.prepare, batch, isolate)
        return result

    outcome = await mode.exchange(await prepared(jobs, frozenset()), transport, offload)
    if not outcome.isolate:
        return outcome
    isolate = frozenset(outcome.isolate)
    again = [j for j in jobs if j.reading_id in isolate]
    rerun = await mode.exchange(await prepared(again, isolate), transport, offload)
    outcome.answers.update(rerun.answers)
    outcome.invalid.extend(rerun.invalid)
    outcome.isolate = set()
    return outcome


# --- B's checks, shared by every mode's routes -----------------------------------------


def paillier_field(public_key: PublicKey, text: str, where: str) -> int:
    """A Paillier ciphertext field under ``public_key``, or :class:`FieldError`."""
    try:
        return decode_ciphertext(public_key, text, where)
    except CiphertextError as exc:
        raise FieldError(str(exc)) from None


def dgk_field(public_key: dgk.DgkPublicKey, text: str, where: str) -> int:
    """A DGK ciphertext field under ``public_key``, or :class:`FieldError`."""
    try:
        return dgk.decode_ciphertext(public_key, text, where)
    except dgk.DgkError as exc:
        raise FieldError(str(exc)) from None


def check_system_key(system: PublicKey, claimed: str) -> None:
    """The request is made under this server's system key."""
    if claimed != key_id(system):
        raise FieldError("system_key_id: not this server's system key")


def physician_keys(entries: Sequence[PhysicianPublicKey], min_bits: int) -> dict[str, PublicKey]:
    """The request's physician keys by id, each checked against its modulus and size.

    Raises:
        FieldError: naming the first bad entry.
    """
    keys: dict[str, PublicKey] = {}
    for i, entry in enumerate(entries):
        pk_d = PublicKey(int(entry.n, 16))
        if key_id(pk_d) != entry.key_id:
            raise FieldError(f"physician_keys[{i}].key_id: does not match its modulus")
        n_d: int = pk_d.n
        if n_d.bit_length() < min_bits or n_d % 2 == 0:
            raise FieldError(f"physician_keys[{i}].n: not a modulus of >= {min_bits} bits")
        keys[entry.key_id] = pk_d
    return keys


def physician_key_of(keys: Mapping[str, PublicKey], claimed: str, where: str) -> PublicKey:
    """The physician key a reading names, which must be among the request's keys."""
    pk_d = keys.get(claimed)
    if pk_d is None:
        raise FieldError(f"{where}.physician_key_id: not among physician_keys")
    return pk_d


def partial_decryption_route(sealer: ShareSealer) -> Route:
    """B's ``POST /v1/partial-decryption``, shared by every mode."""

    def seal_shares(request: PartialDecryptRequest) -> PartialDecryptResponse:
        """PDec_2 of each pack, sealed for this server alone (protocol.sealed_share).

        Raises:
            FieldError: the system key or a ciphertext is wrong (nothing is computed).
        """
        system = sealer.share.public_key
        check_system_key(system, request.system_key_id)
        packs = [
            paillier_field(system, text, f"ciphertexts[{i}]")
            for i, text in enumerate(request.ciphertexts)
        ]
        return PartialDecryptResponse(sealed=[sealer.seal(c) for c in packs])

    return Route(PARTIAL_DECRYPT, PartialDecryptRequest, PartialDecryptResponse, seal_shares)


def sealed_share_field(
    sealer: ShareSealer, ciphertext: int, text: str | None, where: str
) -> int | None:
    """B's own PDec_2 of ``ciphertext`` from the seal A carried, or None (none carried:
    B computes it now).

    Raises:
        FieldError: the seal was not made by this B for this ciphertext.
    """
    if text is None:
        return None
    try:
        return sealer.unseal(ciphertext, text)
    except SealError as exc:
        raise FieldError(f"{where}: {exc}") from None
