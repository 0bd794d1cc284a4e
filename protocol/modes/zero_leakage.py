"""The zero-leakage mode (docs/zero-leakage.md): two rounds, ``/v1/zl/open`` then
``/v1/zl/answer``.

Round 1, A: steps a1-a2 per pack (:meth:`ZeroLeakageA.prepare`), PDec_1 at the same time
as B's by default (``protocol.sealed_share``); B: b1-b2.
Round 2, A: a3-a4 for every reading whose pack B accepted; B: b3-b4. A's coins (masks
and flips) live only in A's memory for the batch: if B fails in between, the readings
stay pending and the next try draws fresh coins. B keeps nothing between the rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from protocol import comparison as cmp
from protocol import dgk
from protocol import zero_leakage as zl
from protocol.ciphertext import encode_ciphertext
from protocol.keys import KeyShare, ShareError
from protocol.messages_zero_leakage import (
    ZlAnswerRequest,
    ZlAnswerResponse,
    ZlOpened,
    ZlOpenRequest,
    ZlOpenResponse,
    ZlPack,
    ZlReading,
)
from protocol.modes.base import (
    Job,
    Noise,
    Offload,
    Outcome,
    accept_answers,
    check_system_key,
    dgk_field,
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
from protocol.params import CHECKS_PER_READING
from protocol.sealed_share import PARTIAL_DECRYPT, ShareSealer
from protocol.transport import FieldError, PeerError, Route, Transport

OPEN = "/v1/zl/open"
ANSWER = "/v1/zl/answer"
NAME = "zero-leakage"
_WIDTH = zl.DEFAULT_ZL_PARAMS.terms_per_check
TERMS_PER_READING = _WIDTH * CHECKS_PER_READING
"""DGK ciphertexts per reading, each with its own re-randomiser h^r: A's terms, and as
many bits from B."""


@dataclass
class ZeroLeakagePrepared:
    """Per pack: its jobs, its ciphertext of masked differences and A's secret masks
    (kept for round 2)."""

    packs: list[list[Job]]
    ciphertexts: list[int] = field(default_factory=list)
    masks: list[zl.Masks] = field(default_factory=list)

    def __repr__(self) -> str:  # the masks are secret
        return f"ZeroLeakagePrepared(<{len(self.packs)} packs>)"


_Accepted = list[tuple[list[Job], zl.Masks, list[str]]]


class ZeroLeakageA:
    """A's half: SK1, B's DGK public key, r^N from ``noise``, DGK re-randomisers from
    ``dgk_factors`` (count -> values; a ``protocol.pool.UseOncePool``'s ``take_many``, fresh ones by
    default)."""

    name = NAME

    def __init__(
        self,
        share: KeyShare,
        dgk_public: dgk.DgkPublicKey,
        noise: Noise,
        readings_per_pack: int = 0,
        *,
        pdec_ahead: bool = True,
        dgk_factors: Callable[[int], list[int]] | None = None,
    ) -> None:
        self.share = share
        self.system_key = share.public_key
        self.dgk_public = dgk_public
        self.noise = noise
        self.dgk_factors = dgk_factors
        self.pdec_ahead = pdec_ahead
        self.readings_per_pack = pack_capacity(
            readings_per_pack, zl.readings_per_pack(self.system_key)
        )

    def prepare(self, jobs: Sequence[Job], isolate: Collection[str] = ()) -> ZeroLeakagePrepared:
        """Steps a1-a2, packs grouped by patient."""
        pk = self.system_key
        prepared = ZeroLeakagePrepared(pack_groups(jobs, self.readings_per_pack, isolate))
        for group in prepared.packs:
            slots = [d for job in group for d in cmp.a1_differences(pk, job.reading, job.bounds)]
            masks = zl.draw_masks(len(slots))
            prepared.ciphertexts.append(zl.a2_mask_and_pack(pk, slots, masks, self.noise(pk)))
            prepared.masks.append(masks)
        return prepared

    async def exchange(
        self, prepared: ZeroLeakagePrepared, transport: Transport, offload: Offload = inline
    ) -> Outcome:
        """Both rounds with B; round 2 only for the packs B accepted."""
        outcome = Outcome()
        if not prepared.packs:
            return outcome
        pk = self.system_key
        shares = await partial_decryptions(
            self.share, prepared.ciphertexts, transport, offload, ahead=self.pdec_ahead
        )
        open_request = ZlOpenRequest(
            system_key_id=key_id(pk),
            dgk_key_id=self.dgk_public.key_id,
            packs=[
                ZlPack(
                    ciphertext=encode_ciphertext(pk, c),
                    pdec1=pdec1,
                    pdec2_sealed=sealed,
                    slots=len(masks),
                )
                for c, (pdec1, sealed), masks in zip(
                    prepared.ciphertexts, shares, prepared.masks, strict=True
                )
            ],
        )
        opened = await transport.call(OPEN, open_request, ZlOpenResponse)
        if len(opened.packs) != len(prepared.packs):
            raise PeerError("open answer count does not match the packs sent")
        accepted: _Accepted = []
        for group, masks, answer in zip(prepared.packs, prepared.masks, opened.packs, strict=True):
            if answer.status == "out_of_band":
                out_of_band(group, outcome)
                continue
            if len(answer.bits) != _WIDTH * len(masks):
                raise PeerError("a pack's DGK bit count does not match its slots")
            accepted.append((group, masks, answer.bits))
        if not accepted:
            return outcome
        answer_request: ZlAnswerRequest = await offload(self._round_two, accepted)
        answered = await transport.call(ANSWER, answer_request, ZlAnswerResponse)
        accept_answers(
            [job for group, _, _ in accepted for job in group], answered.answers, outcome
        )
        return outcome

    def _round_two(self, accepted: _Accepted) -> ZlAnswerRequest:
        """Steps a3-a4 for every reading of the accepted packs.

        Raises:
            PeerError: B's DGK ciphertexts are malformed.
        """
        dgk_pk = self.dgk_public
        readings: list[ZlReading] = []
        width = TERMS_PER_READING
        for group, masks, texts in accepted:
            try:
                bits = [dgk.decode_ciphertext(dgk_pk, t, "bits") for t in texts]
            except dgk.DgkError:
                raise PeerError("B's DGK bits are not ciphertexts under its key") from None
            terms = zl.a3_bitwise_terms(dgk_pk, bits, masks, factors=self.dgk_factors)
            tables = zl.a4_answer_tables([j.physician_key for j in group], masks, self.noise)
            for j, (job, table) in enumerate(zip(group, tables, strict=True)):
                readings.append(
                    ZlReading(
                        physician_key_id=job.physician.key_id,
                        terms=[
                            dgk.encode_ciphertext(dgk_pk, c)
                            for c in terms[width * j : width * (j + 1)]
                        ],
                        table=[encode_ciphertext(job.physician_key, c) for c in table],
                    )
                )
        return ZlAnswerRequest(
            dgk_key_id=dgk_pk.key_id,
            physician_keys=physician_entries([j for group, _, _ in accepted for j in group]),
            readings=readings,
        )


class ZeroLeakageB:
    """B's half: SK2 and the DGK secret key; r^N under physician keys from ``noise``; the
    bits' DGK re-randomisers from ``dgk_factors`` (count -> values; a
    ``protocol.pool.UseOncePool``'s ``take_many``, fresh ones by default)."""

    name = NAME

    def __init__(
        self,
        share: KeyShare,
        dgk_secret: dgk.DgkSecretKey,
        min_physician_bits: int,
        noise: Noise,
        dgk_factors: Callable[[int], list[int]] | None = None,
    ) -> None:
        self.share = share
        self.dgk_secret = dgk_secret
        self.min_physician_bits = min_physician_bits
        self.noise = noise
        self.dgk_factors = dgk_factors
        self.sealer = ShareSealer(share)
        self.routes: Mapping[str, Route] = {
            PARTIAL_DECRYPT: partial_decryption_route(self.sealer),
            OPEN: Route(OPEN, ZlOpenRequest, ZlOpenResponse, self.open_packs),
            ANSWER: Route(ANSWER, ZlAnswerRequest, ZlAnswerResponse, self.answer_readings),
        }

    def _check_dgk_key(self, claimed: str) -> None:
        if claimed != self.dgk_secret.public.key_id:
            raise FieldError("dgk_key_id: not this server's DGK key")

    def open_packs(self, request: ZlOpenRequest) -> ZlOpenResponse:
        """Steps b1-b2: open each pack and encrypt its slots' bits under DGK.

        A pack with guard bits set is answered ``out_of_band``; the others are unaffected.

        Raises:
            FieldError: a key id, ciphertext or ``pdec1`` is wrong (nothing is answered).
        """
        system = self.share.public_key
        check_system_key(system, request.system_key_id)
        self._check_dgk_key(request.dgk_key_id)
        capacity = zl.DEFAULT_ZL_PARAMS.slots_per_ciphertext(system.n)
        decoded = []
        for p, pack in enumerate(request.packs):
            if pack.slots > capacity:
                raise FieldError(f"packs[{p}].slots: {pack.slots} do not fit one ciphertext")
            ciphertext = paillier_field(system, pack.ciphertext, f"packs[{p}].ciphertext")
            decoded.append(
                (
                    ciphertext,
                    paillier_field(system, pack.pdec1, f"packs[{p}].pdec1"),
                    sealed_share_field(
                        self.sealer, ciphertext, pack.pdec2_sealed, f"packs[{p}].pdec2_sealed"
                    ),
                    pack.slots,
                )
            )
        opened: list[list[int] | None] = []
        for p, (ciphertext, pdec1, pdec2, slots) in enumerate(decoded):
            try:
                opened.append(
                    zl.b1_open_pack(self.share, system, ciphertext, pdec1, slots, pdec2=pdec2)
                )
            except ShareError:
                raise FieldError(
                    f"packs[{p}].pdec1: does not combine with this server's share"
                ) from None
            except zl.SlotOutOfBand:
                opened.append(None)
        masked = [z for zs in opened if zs is not None for z in zs]
        bits = iter(
            zl.b2_encrypt_bits(self.dgk_secret, masked, factors=self.dgk_factors) if masked else ()
        )
        dgk_pk = self.dgk_secret.public
        answers = []
        for zs in opened:
            if zs is None:
                answers.append(ZlOpened(status="out_of_band"))
                continue
            chunk = [dgk.encode_ciphertext(dgk_pk, next(bits)) for _ in range(_WIDTH * len(zs))]
            answers.append(ZlOpened(status="ok", bits=chunk))
        return ZlOpenResponse(packs=answers)

    def answer_readings(self, request: ZlAnswerRequest) -> ZlAnswerResponse:
        """Steps b3-b4: zero-test every reading's terms and pick its table entry.

        Raises:
            FieldError: a key id or ciphertext is wrong (nothing is answered).
        """
        dgk_pk = self.dgk_secret.public
        self._check_dgk_key(request.dgk_key_id)
        keys = physician_keys(request.physician_keys, self.min_physician_bits)
        terms: list[int] = []
        tables: list[tuple[PublicKey, list[int]]] = []
        for r, reading in enumerate(request.readings):
            at = f"readings[{r}]"
            pk_d = physician_key_of(keys, reading.physician_key_id, at)
            terms.extend(
                dgk_field(dgk_pk, text, f"{at}.terms[{t}]") for t, text in enumerate(reading.terms)
            )
            tables.append(
                (
                    pk_d,
                    [
                        paillier_field(pk_d, text, f"{at}.table[{t}]")
                        for t, text in enumerate(reading.table)
                    ],
                )
            )
        shares = zl.b3_zero_test(self.dgk_secret, terms)
        answers = zl.b4_pick_answers(tables, shares, self.noise)
        return ZlAnswerResponse(
            answers=[
                encode_ciphertext(pk_d, c) for (pk_d, _), c in zip(tables, answers, strict=True)
            ]
        )
