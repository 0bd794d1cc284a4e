"""Pydantic message schemas shared by the services and clients.

Ciphertexts travel as fixed-length base64 strings (see ``protocol.ciphertext``); the
models only bound their size, and the receiver decodes them against the right key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.params import ANSWER_TABLE_SIZE

MAX_KEY_BITS = 4096
# base64 of a ciphertext under the largest accepted key (N^2 of 8192 bits = 1024 bytes).
Ciphertext = Annotated[
    str, StringConstraints(min_length=4, max_length=1368, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
Modulus = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{64,1024}$")]

MAX_PACKS_PER_REQUEST = 64


class Strict(BaseModel):
    """Unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PhysicianPublicKey(Strict):
    """pk_D as registered with server A: the modulus in hex and its fingerprint."""

    key_id: KeyId
    n: Modulus


class ReadingTable(Strict):
    """The 8-entry answer table for one reading, under one physician's key."""

    physician_key_id: KeyId
    table: list[Ciphertext] = Field(min_length=ANSWER_TABLE_SIZE, max_length=ANSWER_TABLE_SIZE)


class Pack(Strict):
    """One packed ciphertext, A's partial decryption of it, and its readings' tables."""

    ciphertext: Ciphertext
    pdec1: Ciphertext
    readings: list[ReadingTable] = Field(min_length=1, max_length=16)


class CompareRequest(Strict):
    """A -> B: packs of blinded differences. Carries no patient, device or reading id."""

    system_key_id: KeyId
    physician_keys: list[PhysicianPublicKey] = Field(min_length=1, max_length=MAX_PACKS_PER_REQUEST)
    packs: list[Pack] = Field(min_length=1, max_length=MAX_PACKS_PER_REQUEST)


class PackAnswer(Strict):
    """B -> A for one pack: the re-randomised table entries, or a rejection of the pack."""

    status: Literal["ok", "out_of_band"]
    answers: list[Ciphertext] = Field(default_factory=list)


class CompareResponse(Strict):
    """B -> A: one answer per pack, in order."""

    packs: list[PackAnswer]
