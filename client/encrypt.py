"""Encode, bound-check and encrypt what clients send: a device's reading, a patient's range.

Values are checked against their bound *before* encryption (DESIGN.md, "Encodings"); a
value out of bounds is refused here and never leaves the machine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from client.errors import InputError
from client.system_key import SystemPublicKey
from protocol.ciphertext import encode_ciphertext
from protocol.encoding import BoundError, encode_heart_rate, encode_irregularity, encode_score
from protocol.paillier import encrypt


@dataclass(frozen=True)
class EncodedReading:
    """A reading in its integer encoding: tenths of a bpm, round(p * 10^4), round(q * 10^4),
    and the rate-missing flag.

    ``irregularity`` is 0 when the rhythm was not judged (too few clean beats): such a
    reading can never be flagged for its rhythm, only for its rate and score.
    ``rate_missing`` is 1 when no heart rate was found (then ``heart_rate`` is 0): such a
    reading is judged on its score and rhythm alone.
    """

    heart_rate: int
    score: int
    irregularity: int = 0
    rate_missing: int = 0


@dataclass(frozen=True)
class EncodedRange:
    """A patient's healthy range, CNN threshold and irregularity threshold, in the units
    of readings."""

    low: int
    high: int
    threshold: int
    irregularity_threshold: int


def encode_reading(
    heart_rate_bpm: float | None, score: float, irregularity: float | None = None
) -> EncodedReading:
    """Encode and bound-check one reading; ``heart_rate_bpm`` None: no heart rate was
    found (the range is then not checked); ``irregularity`` None: the rhythm was not judged.

    Raises:
        InputError: a value is not finite or outside its bound (named).
    """
    try:
        return EncodedReading(
            0 if heart_rate_bpm is None else encode_heart_rate(heart_rate_bpm),
            encode_score(score),
            0 if irregularity is None else encode_irregularity(irregularity),
            int(heart_rate_bpm is None),
        )
    except BoundError as exc:
        raise InputError(f"refused before encryption: {exc}") from None


def encode_range(
    low_bpm: float, high_bpm: float, threshold: float, irregularity_threshold: float
) -> EncodedRange:
    """Encode and bound-check a healthy range [low, high] bpm, a probability threshold and
    an irregularity threshold.

    Raises:
        InputError: a value outside its bound, low above high, or an irregularity
            threshold of 0 (every reading not judged would then count as irregular).
    """
    try:
        encoded = EncodedRange(
            encode_heart_rate(low_bpm, "low"),
            encode_heart_rate(high_bpm, "high"),
            encode_score(threshold, "threshold"),
            encode_irregularity(irregularity_threshold, "irregularity threshold"),
        )
    except BoundError as exc:
        raise InputError(f"refused before encryption: {exc}") from None
    if encoded.low > encoded.high:
        raise InputError(f"refused: low={low_bpm} bpm is above high={high_bpm} bpm")
    if encoded.irregularity_threshold == 0:
        raise InputError("refused: the irregularity threshold must be above 0")
    return encoded


def _ciphertext(system: SystemPublicKey, value: int) -> str:
    public_key = system.public_key
    return encode_ciphertext(public_key, encrypt(public_key, value))


def encrypt_reading(
    system: SystemPublicKey,
    reading: EncodedReading,
    *,
    reading_id: uuid.UUID | None = None,
    taken_at: datetime | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/readings``: E(hr), E(s), E(q), E(m) under the system key,
    fresh randomness; E(m) always, so that server A cannot tell a reading without a heart
    rate by its shape.

    Args:
        system: the pinned system public key.
        reading: from :func:`encode_reading` (already bound-checked).
        reading_id: kept by the caller to retry idempotently; a fresh UUID4 if None.
        taken_at: when the recording was made; now (UTC) if None.
    """
    return {
        "reading_id": str(reading_id or uuid.uuid4()),
        "key_id": system.key_id,
        "taken_at": (taken_at or datetime.now(UTC)).isoformat(),
        "heart_rate": _ciphertext(system, reading.heart_rate),
        "score": _ciphertext(system, reading.score),
        "irregularity": _ciphertext(system, reading.irregularity),
        "rate_missing": _ciphertext(system, reading.rate_missing),
    }


def encrypt_range(system: SystemPublicKey, bounds: EncodedRange) -> dict[str, Any]:
    """The body of ``PUT /v1/patients/{id}/range``: E(lo), E(hi), E(tau), E(rho)."""
    return {
        "key_id": system.key_id,
        "low": _ciphertext(system, bounds.low),
        "high": _ciphertext(system, bounds.high),
        "threshold": _ciphertext(system, bounds.threshold),
        "irregularity_threshold": _ciphertext(system, bounds.irregularity_threshold),
    }


def expected_result(reading: EncodedReading, bounds: EncodedRange) -> bool:
    """The bit the protocol must compute, in the clear: True when abnormal.

    For tests and the demo's contrast view only (no party holds both inputs):
    ``hr < lo`` or ``hr > hi`` (both only when the rate was found) or ``s >= tau`` or
    ``q >= rho`` (d1 ... d4 >= 0).
    """
    rate_found = not reading.rate_missing
    return (
        (rate_found and not bounds.low <= reading.heart_rate <= bounds.high)
        or reading.score >= bounds.threshold
        or reading.irregularity >= bounds.irregularity_threshold
    )
