"""Protocol constants, each with its reason (DESIGN.md, "Encodings" and "The comparison")."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KEY_BITS = 2048
"""|N| for the system and physician keys: ~112-bit security (NIST SP 800-57), as phe's default."""

MIN_KEY_BITS = 2048
"""Smaller keys are refused outside tests (settings validators enforce this)."""

HEART_RATE_SCALE = 10
"""Heart rate travels in tenths of a bpm: 72.4 bpm -> 724."""

SCORE_SCALE = 10_000
"""CNN probability travels as round(p * 10^4)."""

IRREGULARITY_SCALE = 10_000
"""The rhythm irregularity index (in [0, 1]) travels as round(q * 10^4); 0 = not judged."""


@dataclass(frozen=True)
class ComparisonParams:
    """Sizes of the blinded sign test.

    Attributes:
        value_bits: every encrypted value (hr, score, irregularity and their bounds) lies
            in [0, 2^value_bits); the rate-missing flag m is 0 or 1.
        sigma: statistical blinding parameter; r1 is drawn from [1, 2^sigma).
        guard_bits: extra slot bits that catch a malicious, out-of-bound value with
            probability about 1 - 2^-guard_bits.
    """

    value_bits: int = 15
    sigma: int = 80
    guard_bits: int = 40

    @property
    def diff_bits(self) -> int:
        """l: a difference of two bounded values (minus one) has |d| < 2^l."""
        return self.value_bits + 1

    @property
    def slot_bits(self) -> int:
        """k = sigma + l + 4 + g."""
        return self.sigma + self.diff_bits + 4 + self.guard_bits

    @property
    def band(self) -> int:
        """An honest shifted slot t' lies strictly within this distance of 2^(k-1)."""
        return 1 << (self.sigma + self.diff_bits + 2)

    @property
    def rate_missing_shift(self) -> int:
        """K = 2^value_bits - 1: with no heart rate (m = 1, hr = 0) the "too slow" check
        compares lo with hr + K m = K, the largest value, so it cannot fire; "too fast"
        compares hi with hr = 0, which cannot fire either (docs/design.md, "Readings
        without a heart rate")."""
        return (1 << self.value_bits) - 1

    def slots_per_ciphertext(self, n: int) -> int:
        """How many k-bit slots fit below N without wrapping."""
        return (n.bit_length() - 1) // self.slot_bits


DEFAULT_PARAMS = ComparisonParams()

CHECKS_PER_READING = 4
"""d1 = lo - hr - 1 (too slow), d2 = hr - hi - 1 (too fast), d3 = s - tau (CNN abnormal),
d4 = q - rho (irregular rhythm)."""

ANSWER_TABLE_SIZE = 8
"""Entries of a reading's answer table, indexed by (u1 xor u2, u3, u4): with lo <= hi "too
slow" and "too fast" never hold together, so their OR is their XOR (docs/design.md)."""
