"""The baseline mode (DESIGN.md, "The comparison"): one round, ``POST /v1/compare``.

A: steps a1, a2, a4 per reading, a3 and PDec_1 per pack, all in :meth:`BaselineA.prepare`;
B: steps b1-b3 per pack. A pack with a slot outside the honest band is answered
``out_of_band`` and its readings are re-run one per pack.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from protocol import comparison as cmp
from protocol.ciphertext import encode_ciphertext
from protocol.keys import KeyShare, ShareError
from protocol.messages import CompareRequest, CompareResponse, Pack, PackAnswer, ReadingTable
from protocol.modes.base import (
    Job,
    Noise,
    Offload,
    Outcome,
    accept_answers,
    check_system_key,
    inline,
    out_of_band,
    pack_capacity,
    pack_groups,
    paillier_field,
    physician_entries,
    physician_key_of,
    physician_keys,
)
from protocol.paillier import PublicKey, key_id
from protocol.transport import FieldError, PeerError, Route, Transport

COMPARE = "/v1/compare"
NAME = "baseline"


@dataclass
class BaselinePrepared:
    """The one request of the batch and its jobs per pack (nothing secret is kept)."""

    packs: list[list[Job]]
    request: CompareRequest | None


class BaselineA:
    """A's half: SK1, r^N from ``noise``, packs of up to ``readings_per_pack`` readings."""

    name = NAME

    def __init__(self, share: KeyShare, noise: Noise, readings_per_pack: int = 0) -> None:
        self.share = share
        self.system_key = share.public_key
        self.noise = noise
        self.readings_per_pack = pack_capacity(
            readings_per_pack, cmp.readings_per_pack(self.system_key)
        )

    def prepare(self, jobs: Sequence[Job], isolate: Collection[str] = ()) -> BaselinePrepared:
        """Steps a1-a4 and PDec_1; the same work per reading whatever its values."""
        pk = self.system_key
        groups = pack_groups(jobs, self.readings_per_pack, isolate)
        if not groups:
            return BaselinePrepared([], None)
        packs = []
        for group in groups:
            prepared = [
                cmp.prepare_reading(
                    pk,
                    job.physician_key,
                    job.reading,
                    job.bounds,
                    functools.partial(self.noise, job.physician_key),
                )
                for job in group
            ]
            packed = cmp.a3_pack(pk, [s for p in prepared for s in p.slots], self.noise(pk))
            tables = [
                ReadingTable(
                    physician_key_id=job.physician.key_id,
                    table=[encode_ciphertext(job.physician_key, c) for c in p.answer_table],
                )
                for job, p in zip(group, prepared, strict=True)
            ]
            packs.append(
                Pack(
                    ciphertext=encode_ciphertext(pk, packed),
                    pdec1=encode_ciphertext(pk, self.share.partial_decrypt(packed)),
                    readings=tables,
                )
            )
        request = CompareRequest(
            system_key_id=key_id(pk),
            physician_keys=physician_entries([j for g in groups for j in g]),
            packs=packs,
        )
        return BaselinePrepared(groups, request)

    async def exchange(
        self, prepared: BaselinePrepared, transport: Transport, offload: Offload = inline
    ) -> Outcome:
        """One call to B; its answers mapped back to readings."""
        outcome = Outcome()
        if prepared.request is None:
            return outcome
        response = await transport.call(COMPARE, prepared.request, CompareResponse)
        if len(response.packs) != len(prepared.packs):
            raise PeerError("answer count does not match the packs sent")
        for group, answer in zip(prepared.packs, response.packs, strict=True):
            if answer.status == "out_of_band":
                out_of_band(group, outcome)
            else:
                accept_answers(group, answer.answers, outcome)
        return outcome


@dataclass(frozen=True)
class _DecodedPack:
    ciphertext: int
    pdec1: int
    tables: list[tuple[PublicKey, list[int]]]


class BaselineB:
    """B's half: SK2, physician keys of at least ``min_physician_bits``, r^N from ``noise``."""

    name = NAME

    def __init__(self, share: KeyShare, min_physician_bits: int, noise: Noise) -> None:
        self.share = share
        self.min_physician_bits = min_physician_bits
        self.noise = noise
        self.routes: Mapping[str, Route] = {
            COMPARE: Route(COMPARE, CompareRequest, CompareResponse, self.answer)
        }

    def answer(self, request: CompareRequest) -> CompareResponse:
        """Steps b1-b3 for every pack, after every field is checked.

        Raises:
            FieldError: naming the first bad field (nothing is decrypted).
        """
        system = self.share.public_key
        packs = self._decode(request)
        answers = []
        for p, pack in enumerate(packs):
            try:
                bits = cmp.b_answer_pack(
                    self.share, system, pack.ciphertext, pack.pdec1, pack.tables, self.noise
                )
            except ShareError:
                raise FieldError(
                    f"packs[{p}].pdec1: does not combine with this server's share"
                ) from None
            except cmp.SlotOutOfBand:
                answers.append(PackAnswer(status="out_of_band"))
                continue
            encoded = [
                encode_ciphertext(pk_d, c) for (pk_d, _), c in zip(pack.tables, bits, strict=True)
            ]
            answers.append(PackAnswer(status="ok", answers=encoded))
        return CompareResponse(packs=answers)

    def _decode(self, request: CompareRequest) -> list[_DecodedPack]:
        system = self.share.public_key
        check_system_key(system, request.system_key_id)
        keys = physician_keys(request.physician_keys, self.min_physician_bits)
        capacity = cmp.readings_per_pack(system)
        packs = []
        for p, pack in enumerate(request.packs):
            where = f"packs[{p}]"
            if len(pack.readings) > capacity:
                raise FieldError(f"{where}.readings: {len(pack.readings)} do not fit one pack")
            tables = []
            for r, reading in enumerate(pack.readings):
                at = f"{where}.readings[{r}]"
                pk_d = physician_key_of(keys, reading.physician_key_id, at)
                table = [
                    paillier_field(pk_d, text, f"{at}.table[{t}]")
                    for t, text in enumerate(reading.table)
                ]
                tables.append((pk_d, table))
            packs.append(
                _DecodedPack(
                    paillier_field(system, pack.ciphertext, f"{where}.ciphertext"),
                    paillier_field(system, pack.pdec1, f"{where}.pdec1"),
                    tables,
                )
            )
        return packs
