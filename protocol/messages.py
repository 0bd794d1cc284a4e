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
    JsonValue,
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


# Examples for the OpenAPI schema (Swagger's "Try it out"): shapes, not real values. A
# real ciphertext under a 2048-bit key is 684 base64 characters (protocol.ciphertext).
_CT = "q83vASNFZ4mrze8BI0VniQ=="
_KEY_ID = "4bc288a8bd1f4028"
_PATIENT = "0b6c7f2e-5d1a-4c39-9e6f-2a7d3b8c1e45"
_READING = "ad4a4d09-e79a-48e1-8c7c-721a3bbcdbe0"
_AT = "2026-12-02T20:17:28+00:00"


def _example(**fields: JsonValue) -> ConfigDict:
    """A model's config with one example, checked against the model by the tests."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


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

    model_config = _example(
        key_id=_KEY_ID,
        n="0x" + "c5" * 32,
        bits=2048,
    )

    key_id: KeyId
    n: Modulus
    bits: int


class PhysicianEnrol(Strict):
    """Operator-approved enrolment of a physician with their public key pk_D."""

    model_config = _example(
        username="dr.meyer",
        password="correct horse battery",  # noqa: S106 (an example)
        public_key={"key_id": "9d1e0c55aa27b3f0", "n": "0x" + "d3" * 32},
    )

    username: Username
    password: Password
    public_key: PhysicianPublicKey


class PhysicianOut(Strict):
    """The new physician's id."""

    model_config = _example(
        physician_id="7c9e6679-7425-40de-944b-e07fc1f90ae7",
    )

    physician_id: UUID


class TokenOut(Strict):
    """OAuth2 bearer token (a JWT) for a physician."""

    model_config = _example(
        access_token="eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",  # noqa: S106 (an example)
        token_type="bearer",  # noqa: S106 (the scheme name)
        expires_in=3600,
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name)
    expires_in: int


class PatientCreate(Strict):
    """A new patient; the label is the physician's own note, not an identity document."""

    model_config = _example(
        label="Bed 4, Mrs K.",
    )

    label: PatientLabel


class PatientCreated(Strict):
    """The patient's id and device token; the token is shown once, A keeps only its hash."""

    model_config = _example(
        patient_id=_PATIENT,
        device_token="Xq3vASNFZ4mrze8BI0VniQ-7wEjRWeJq83vASNFZ4mr",  # noqa: S106 (an example)
    )

    patient_id: UUID
    device_token: str


EnrolmentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]


class EnrolmentCodeOut(Strict):
    """A one-time code that gives a new device the patient's device token (A keeps its
    SHA-256 only); it works once, until ``expires_at``."""

    model_config = _example(
        patient_id=_PATIENT,
        code="K7QF-2M9D-XR4T-8WZC",
        expires_at="2026-12-03T20:17:28+00:00",
    )

    patient_id: UUID
    code: str
    expires_at: AwareDatetime


class DeviceEnrolIn(Strict):
    """A device redeeming its enrolment code."""

    model_config = _example(
        code="K7QF-2M9D-XR4T-8WZC",
    )

    code: EnrolmentCode


class ResultOut(Strict):
    """One reading's state; ``result`` is Enc_pkD(bit) once ``status`` is ``done``."""

    model_config = _example(
        reading_id=_READING,
        patient_id=_PATIENT,
        taken_at=_AT,
        received_at="2026-12-02T20:17:29+00:00",
        status="done",
        result=_CT,
    )

    reading_id: UUID
    patient_id: UUID
    taken_at: AwareDatetime
    received_at: AwareDatetime
    status: ReadingStatus
    result: Ciphertext | None = None


class PatientOut(Strict):
    """A patient as listed to their physician; ``invalid_readings`` counts readings the
    guard bits refused: a faulty or tampered device (the device itself is never told)."""

    model_config = _example(
        patient_id=_PATIENT,
        label="Bed 4, Mrs K.",
        has_range=True,
        invalid_readings=0,
    )

    patient_id: UUID
    label: str
    has_range: bool
    latest: ResultOut | None = None
    invalid_readings: int = 0


class RangeIn(Strict):
    """E(lo), E(hi), E(tau), E(rho) under the system key (heart rate in tenths of a bpm,
    thresholds in 10^-4)."""

    model_config = _example(
        key_id=_KEY_ID,
        low=_CT,
        high=_CT,
        threshold=_CT,
        irregularity_threshold=_CT,
    )

    key_id: KeyId
    low: Ciphertext
    high: Ciphertext
    threshold: Ciphertext
    irregularity_threshold: Ciphertext


class RangeOut(Strict):
    """Acknowledgement of a stored range."""

    model_config = _example(
        patient_id=_PATIENT,
        updated_at=_AT,
    )

    patient_id: UUID
    updated_at: AwareDatetime


READING_CIPHERTEXTS = ("heart_rate", "score", "irregularity", "rate_missing")
"""The fields of :class:`ReadingIn` that hold ciphertexts, in the device's order."""


class ReadingIn(Strict):
    """A device's reading: E(hr), E(score), E(irregularity), E(rate_missing) under the
    system key.

    ``rate_missing`` is E(1) when the device found no heart rate (a recording of 2-4 s, or
    too noisy for beats; then E(hr) = E(0)), else E(0): the reading is then judged on its
    score and rhythm alone, and server A cannot tell which (docs/design.md, "Readings
    without a heart rate"). Current devices always send it; a body without it (a device
    from before the field) counts as E(0).
    """

    model_config = _example(
        reading_id=_READING,
        key_id=_KEY_ID,
        taken_at=_AT,
        heart_rate=_CT,
        score=_CT,
        irregularity=_CT,
        rate_missing=_CT,
    )

    reading_id: UUID
    key_id: KeyId
    taken_at: Moment
    heart_rate: Ciphertext
    score: Ciphertext
    irregularity: Ciphertext
    rate_missing: Ciphertext | None = None


class ReadingAccepted(Strict):
    """A stored reading: "stored", never its state. A device that learnt whether its
    reading ended ``done`` or ``invalid`` could probe its own healthy range and threshold
    with crafted values (docs/security.md); only the physician sees the state."""

    model_config = _example(
        reading_id=_READING,
        status="stored",
    )

    reading_id: UUID
    status: Literal["stored"] = "stored"


class TallyOut(Strict):
    """Enc_pkD(number of abnormal readings) over done readings in the window."""

    model_config = _example(
        patient_id=_PATIENT,
        since="2026-12-01T00:00:00+00:00",
        until=_AT,
        count=12,
        tally=_CT,
    )

    patient_id: UUID
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    count: int
    tally: Ciphertext | None = None
