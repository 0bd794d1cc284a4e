"""Pydantic message schemas shared by the services and clients.

Ciphertexts travel as fixed-length base64 strings (see ``protocol.ciphertext``); the
models only bound their size, and the receiver decodes them against the right key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from protocol.params import ANSWER_TABLE_SIZE

MAX_KEY_BITS = 4096
# base64 of a ciphertext under the largest accepted key (N^2 of 8192 bits = 1024 bytes).
Ciphertext = Annotated[
    str, StringConstraints(min_length=4, max_length=1368, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
# base64 of nonce + PDec_2 (as long as a ciphertext) + tag: protocol.sealed_share.
SealedShare = Annotated[
    str, StringConstraints(min_length=4, max_length=1404, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
Modulus = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{64,1024}$")]

MAX_PACKS_PER_REQUEST = 64

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _sane_moment(value: datetime) -> datetime:
    """In UTC and between 2000 and 2100: a time zone offset next to ``datetime.max`` would
    overflow on conversion, and no heart-sound recording is dated outside that span."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time must lie between 2000-01-01 and 2100-01-01 (UTC)")
    return utc


Moment = Annotated[AwareDatetime, AfterValidator(_sane_moment)]
"""A zoned time, normalised to UTC and bounded; every time a client sends is one."""


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
    """One packed ciphertext, A's partial decryption of it, B's own sealed one if A asked
    for it ahead (``protocol.sealed_share``), and its readings' tables."""

    ciphertext: Ciphertext
    pdec1: Ciphertext
    pdec2_sealed: SealedShare | None = None
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


# ---------------------------------------------------------------------------------------
# Clients <-> server A (docs/api.md, "Server A").

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]
PatientLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
ReadingStatus = Literal["pending", "done", "invalid"]


class SystemKeyOut(Strict):
    """The system public key: clients pin ``key_id`` from setup and check it here."""

    key_id: KeyId
    n: Modulus
    bits: int


class PhysicianEnrol(Strict):
    """Operator-approved enrolment of a physician with their public key pk_D."""

    username: Username
    password: Password
    public_key: PhysicianPublicKey


class PhysicianOut(Strict):
    """The new physician's id."""

    physician_id: UUID


class TokenOut(Strict):
    """OAuth2 bearer token (a JWT) for a physician."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name)
    expires_in: int


class PatientCreate(Strict):
    """A new patient; the label is the physician's own note, not an identity document."""

    label: PatientLabel


class PatientCreated(Strict):
    """The patient's id and device token; the token is shown once, A keeps only its hash."""

    patient_id: UUID
    device_token: str


EnrolmentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]


class EnrolmentCodeOut(Strict):
    """A one-time code that gives a new device the patient's device token (A keeps its
    SHA-256 only); it works once, until ``expires_at``."""

    patient_id: UUID
    code: str
    expires_at: AwareDatetime


class DeviceEnrolIn(Strict):
    """A device redeeming its enrolment code."""

    code: EnrolmentCode


class ResultOut(Strict):
    """One reading's state; ``result`` is Enc_pkD(bit) once ``status`` is ``done``."""

    reading_id: UUID
    patient_id: UUID
    taken_at: AwareDatetime
    received_at: AwareDatetime
    status: ReadingStatus
    result: Ciphertext | None = None


class PatientOut(Strict):
    """A patient as listed to their physician; ``invalid_readings`` counts readings the
    guard bits refused: a faulty or tampered device (the device itself is never told)."""

    patient_id: UUID
    label: str
    has_range: bool
    latest: ResultOut | None = None
    invalid_readings: int = 0


class RangeIn(Strict):
    """E(lo), E(hi), E(tau), E(rho) under the system key (heart rate in tenths of a bpm,
    thresholds in 10^-4)."""

    key_id: KeyId
    low: Ciphertext
    high: Ciphertext
    threshold: Ciphertext
    irregularity_threshold: Ciphertext


class RangeOut(Strict):
    """Acknowledgement of a stored range."""

    patient_id: UUID
    updated_at: AwareDatetime


class ReadingIn(Strict):
    """A device's reading: E(hr), E(score), E(irregularity) under the system key."""

    reading_id: UUID
    key_id: KeyId
    taken_at: Moment
    heart_rate: Ciphertext
    score: Ciphertext
    irregularity: Ciphertext


class ReadingAccepted(Strict):
    """A stored reading: "stored", never its state. A device that learnt whether its
    reading ended ``done`` or ``invalid`` could probe its own healthy range and threshold
    with crafted values (docs/security.md); only the physician sees the state."""

    reading_id: UUID
    status: Literal["stored"] = "stored"


class TallyOut(Strict):
    """Enc_pkD(number of abnormal readings) over done readings in the window."""

    patient_id: UUID
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    count: int
    tally: Ciphertext | None = None
