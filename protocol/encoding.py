"""Fixed-point encodings of readings and thresholds, and signed integers in Z_N.

Never phe's float ``EncodedNumber``: its exponent travels in the clear and reveals the
size of the value.
"""

from __future__ import annotations

import math

from protocol.params import DEFAULT_PARAMS, HEART_RATE_SCALE, IRREGULARITY_SCALE, SCORE_SCALE


class BoundError(ValueError):
    """A value lies outside its declared bound and must not be encrypted."""


def to_zn(x: int, n: int) -> int:
    """Map a signed integer into Z_N (negative x becomes N + x)."""
    if not -(n // 2) <= x <= n // 2:
        raise BoundError(f"{x} does not fit in Z_N for a {n.bit_length()}-bit N")
    return x % n


def from_zn(m: int, n: int) -> int:
    """Inverse of :func:`to_zn`: m > N/2 is read as negative."""
    return m - n if m > n // 2 else m


def check_bound(value: int, name: str, *, bits: int = DEFAULT_PARAMS.value_bits) -> int:
    """Return ``value`` if it lies in [0, 2^bits), else raise :class:`BoundError` naming it."""
    if not 0 <= value < (1 << bits):
        raise BoundError(f"{name}={value} is outside its bound [0, {1 << bits})")
    return value


def _fixed(value: float, scale: int, name: str) -> int:
    if not math.isfinite(value):
        raise BoundError(f"{name} is not a finite number: {value!r}")
    return check_bound(round(value * scale), name)


def encode_heart_rate(bpm: float, name: str = "heart rate") -> int:
    """Heart rate in bpm -> tenths of a bpm (72.4 -> 724), bound-checked."""
    return _fixed(bpm, HEART_RATE_SCALE, name)


def decode_heart_rate(tenths: int) -> float:
    """Tenths of a bpm -> bpm."""
    return tenths / HEART_RATE_SCALE


def _unit_interval(value: float, scale: int, name: str, what: str) -> int:
    if not 0.0 <= value <= 1.0:
        raise BoundError(f"{name}={value!r} is not {what}")
    return _fixed(value, scale, name)


def encode_score(probability: float, name: str = "abnormality score") -> int:
    """CNN probability in [0, 1] -> round(p * 10^4), bound-checked."""
    return _unit_interval(probability, SCORE_SCALE, name, "a probability in [0, 1]")


def decode_score(fixed: int) -> float:
    """round(p * 10^4) -> p."""
    return fixed / SCORE_SCALE


def encode_irregularity(index: float, name: str = "irregularity index") -> int:
    """Rhythm irregularity index in [0, 1] -> round(q * 10^4), bound-checked."""
    return _unit_interval(index, IRREGULARITY_SCALE, name, "in [0, 1]")
