"""The baseline mode (DESIGN.md, "The comparison"): one round, ``POST /v1/compare``.

A: steps a1, a2, a4 per reading and a3 per pack in :meth:`BaselineA.prepare`, PDec_1 per
pack in :meth:`BaselineA.exchange` (at the same time as B's PDec_2 by default,
``protocol.sealed_share``); B: steps b1-b3 per pack. A pack with a slot outside the
honest band is answered ``out_of_band`` and its readings are re-run one per pack.
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
    partial_decryption_route,
    partial_decryptions,
    physician_entries,
    physician_key_of,
    physician_keys,
    sealed_share_field,
)
from protocol.paillier import PublicKey, key_id
from protocol.sealed_share import PARTIAL_DECRYPT, ShareSealer
from protocol.transport import FieldError, PeerError, Route, Transport

COMPARE = "/v1/compare"
NAME = "baseline"


@dataclass
class BaselinePrepared:
    """The batch's jobs, packed ciphertexts and answer tables per pack (nothing secret)."""

    packs: list[list[Job]]
    ciphertexts: list[int]
    tables: list[list[ReadingTable]]


class BaselineA:
    """A's half: SK1, r^N from ``noise``, packs of up to ``readings_per_pack`` readings;
    ``pdec_ahead``: B's partial decryption at the same time as A's (two calls to B)."""

    name = NAME

    def __init__(
        self,
        share: KeyShare,
        noise: Noise,
        readings_per_pack: int = 0,
        *,
        pdec_ahead: bool = True,
    ) -> None:
        self.share = share
        self.system_key = share.public_key
        self.noise = noise
        self.pdec_ahead = pdec_ahead
        self.readings_per_pack = pack_capacity(
            readings_per_pack, cmp.readings_per_pack(self.system_key)
        )

    def prepare(self, jobs: Sequence[Job], isolate: Collection[str] = ()) -> BaselinePrepared:
        """Steps a1-a4; the same work per reading whatever its values."""
        pk = self.system_key
        groups = pack_groups(jobs, self.readings_per_pack, isolate)
        prepared = BaselinePrepared(groups, [], [])
        for group in groups:
            readings = [
                cmp.prepare_reading(
                    pk,
                    job.physician_key,
                    job.reading,
                    job.bounds,
                    functools.partial(self.noise, job.physician_key),
                )
                for job in group
            ]
            packed = cmp.a3_pack(pk, [s for r in readings for s in r.slots], self.noise(pk))
            prepared.ciphertexts.append(packed)
            prepared.tables.append(
                [
                    ReadingTable(
                        physician_key_id=job.physician.key_id,
                        table=[encode_ciphertext(job.physician_key, c) for c in r.answer_table],
                    )
                    for job, r in zip(group, readings, strict=True)
                ]
            )
        return prepared

    def request_for(
        self, prepared: BaselinePrepared, shares: Sequence[tuple[str, str | None]]
    ) -> CompareRequest:
        """The call to B: each pack with PDec_1 and, if asked ahead, B's sealed PDec_2."""
        pk = self.system_key
        return CompareRequest(
            system_key_id=key_id(pk),
            physician_keys=physician_entries([j for g in prepared.packs for j in g]),
            packs=[
                Pack(
                    ciphertext=encode_ciphertext(pk, c),
                    pdec1=pdec1,
                    pdec2_sealed=sealed,
                    readings=tables,
                )
                for c, (pdec1, sealed), tables in zip(
                    prepared.ciphertexts, shares, prepared.tables, strict=True
                )
            ],
        )

    async def exchange(
        self, prepared: BaselinePrepared, transport: Transport, offload: Offload = inline
    ) -> Outcome:
        """PDec_1 (with B's ahead), then the call to B; its answers mapped to readings."""
        outcome = Outcome()
        if not prepared.packs:
            return outcome
        shares = await partial_decryptions(
            self.share, prepared.ciphertexts, transport, offload, ahead=self.pdec_ahead
        )
        request = self.request_for(prepared, shares)
        response = await transport.call(COMPARE, request, CompareResponse)
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
    pdec2: int | None
    tables: list[tuple[PublicKey, list[int]]]


class BaselineB:
    """B's half: SK2, physician keys of at least ``min_physician_bits``, r^N from ``noise``."""

    name = NAME

    def __init__(self, share: KeyShare, min_physician_bits: int, noise: Noise) -> None:
        self.share = share
        self.min_physician_bits = min_physician_bits
        self.noise = noise
        self.sealer = ShareSealer(share)
        self.routes: Mapping[str, Route] = {
            PARTIAL_DECRYPT: partial_decryption_route(self.sealer),
            COMPARE: Route(COMPARE, CompareRequest, CompareResponse, self.answer),
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
                    self.share,
                    system,
                    pack.ciphertext,
                    pack.pdec1,
                    pack.tables,
                    self.noise,
                    pdec2=pack.pdec2,
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
            ciphertext = paillier_field(system, pack.ciphertext, f"{where}.ciphertext")
            packs.append(
                _DecodedPack(
                    ciphertext,
                    paillier_field(system, pack.pdec1, f"{where}.pdec1"),
                    sealed_share_field(
                        self.sealer, ciphertext, pack.pdec2_sealed, f"{where}.pdec2_sealed"
                    ),
                    tables,
                )
            )
        return packs
