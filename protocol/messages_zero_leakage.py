"""Pydantic schemas of the zero-leakage mode's two A -> B rounds (docs/zero-leakage.md).

Round 1 ``POST /v1/zl/open``: packs of masked differences with A's partial decryption;
B answers per pack the DGK encryptions of beta's bits and p_z (``l + 1`` per check).
Round 2 ``POST /v1/zl/answer``: per reading, Veugen's blinded, shuffled terms (``l + 1``
per check, four checks) and the 8-entry answer table; B answers one Enc_pkD(bit) each.
B keeps nothing between the rounds. Neither carries a patient, device or reading id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from protocol.messages import (
    MAX_PACKS_PER_REQUEST,
    Ciphertext,
    KeyId,
    PhysicianPublicKey,
    SealedShare,
    Strict,
)
from protocol.params import ANSWER_TABLE_SIZE, CHECKS_PER_READING
from protocol.zero_leakage import DEFAULT_ZL_PARAMS

MAX_SLOTS_PER_PACK = 64
TERMS_PER_READING = CHECKS_PER_READING * DEFAULT_ZL_PARAMS.terms_per_check
MAX_READINGS_PER_ANSWER = MAX_PACKS_PER_REQUEST * 16

# base64 of a DGK ciphertext under the largest accepted key (n of 4096 bits = 512 bytes).
DgkCiphertext = Annotated[
    str, StringConstraints(min_length=4, max_length=684, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]


class ZlPack(Strict):
    """One packed ciphertext of masked differences, A's PDec_1 of it, B's sealed PDec_2
    if A asked for it ahead, its slot count."""

    ciphertext: Ciphertext
    pdec1: Ciphertext
    pdec2_sealed: SealedShare | None = None
    slots: int = Field(ge=1, le=MAX_SLOTS_PER_PACK)


class ZlOpenRequest(Strict):
    """A -> B, round 1."""

    system_key_id: KeyId
    dgk_key_id: KeyId
    packs: list[ZlPack] = Field(min_length=1, max_length=MAX_PACKS_PER_REQUEST)


class ZlOpened(Strict):
    """B -> A for one pack: ``l + 1`` DGK ciphertexts per slot, or a rejection of the pack."""

    status: Literal["ok", "out_of_band"]
    bits: list[DgkCiphertext] = Field(default_factory=list)


class ZlOpenResponse(Strict):
    """B -> A, round 1: one entry per pack, in order."""

    packs: list[ZlOpened]


class ZlReading(Strict):
    """One reading's round-2 input: its four checks' terms and its answer table."""

    physician_key_id: KeyId
    terms: list[DgkCiphertext] = Field(min_length=TERMS_PER_READING, max_length=TERMS_PER_READING)
    table: list[Ciphertext] = Field(min_length=ANSWER_TABLE_SIZE, max_length=ANSWER_TABLE_SIZE)


class ZlAnswerRequest(Strict):
    """A -> B, round 2."""

    dgk_key_id: KeyId
    physician_keys: list[PhysicianPublicKey] = Field(min_length=1, max_length=MAX_PACKS_PER_REQUEST)
    readings: list[ZlReading] = Field(min_length=1, max_length=MAX_READINGS_PER_ANSWER)


class ZlAnswerResponse(Strict):
    """B -> A, round 2: one re-randomised Enc_pkD(bit) per reading, in order."""

    answers: list[Ciphertext]
