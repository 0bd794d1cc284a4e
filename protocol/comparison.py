"""The blinded sign comparison, one pure function per step of DESIGN.md ("The comparison").

Server A (holds ``SK1``, never sees a plaintext):
  a1  differences   E(d1) = E(lo - (hr + K m) - 1), E(d2) = E(hr - hi - 1),
                    E(d3) = E(s - tau), E(d4) = E(q - rho); m = 1: no heart rate (hr = 0),
                    so neither range check can fire (K = 2^15 - 1, above every bound)
  a2  blind         E(t'_i), t = (-1)^c (r1 (2d + 1) + r2), t' = t + 2^(k-1)
  a3  pack          E(sum_j t'_j 2^(k j)), re-randomised; A then sends it with PDec_1
  a4  answer table  8 fresh Enc_pkD((x xor c1 xor c2) or (y xor c3) or (z xor c4)),
                    indexed by (x, y, z) = (u1 xor u2, u3, u4); needs lo <= hi (the
                    physician's tools check)
Server B (holds ``SK2``, sees only blinded values):
  b1  open pack     m = combine(PDec_1, PDec_2)
  b2  read signs    split k-bit slots, reject any slot outside the honest band, u = [t' >= 2^(k-1)]
  b3  pick answer   table[u] re-randomised under pk_D
A stores the returned Enc_pkD(bit); the physician decrypts 0 (normal) or 1 (abnormal).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gmpy2

from protocol.keys import KeyShare, combine_partial_decryptions
from protocol.paillier import (
    PublicKey,
    encrypt,
    fresh_noise,
    rerandomise,
    scalar_mul,
    unsafe_encrypt_without_noise,
)
from protocol.params import ANSWER_TABLE_SIZE, CHECKS_PER_READING, DEFAULT_PARAMS, ComparisonParams


class SlotOutOfBand(ValueError):
    """A slot of an opened pack is not what an honest, in-bound value produces."""


@dataclass(frozen=True)
class EncryptedReading:
    """A device's reading: E(hr), E(s), E(q), E(m) under the system key (q: rhythm
    irregularity, 0 when the device could not judge the rhythm; m: 1 when it found no
    heart rate, and then hr = 0, so only the score and the rhythm are checked)."""

    heart_rate: int
    score: int
    irregularity: int
    rate_missing: int


@dataclass(frozen=True)
class EncryptedBounds:
    """A patient's healthy range, CNN threshold and irregularity threshold: E(lo), E(hi),
    E(tau), E(rho) under the system key."""

    low: int
    high: int
    threshold: int
    irregularity_threshold: int


@dataclass(frozen=True)
class Blinding:
    """A's coins for one reading's checks: flips c_i, multipliers r1_i, offsets r2_i."""

    flips: tuple[int, ...]
    r1: tuple[int, ...]
    r2: tuple[int, ...]

    def __repr__(self) -> str:  # the flips are what keeps B's view independent of the data
        return f"Blinding(<{len(self.flips)} secret coins>)"


@dataclass(frozen=True)
class PreparedReading:
    """What A keeps and sends for one reading: its four encrypted slots and answer table."""

    slots: tuple[int, ...]
    answer_table: tuple[int, ...]


def draw_blinding(
    params: ComparisonParams = DEFAULT_PARAMS, count: int = CHECKS_PER_READING
) -> Blinding:
    """c_i a fair bit, r1_i uniform in [1, 2^sigma), r2_i uniform in (-r1_i, r1_i).

    r2 symmetric around 0 makes |t| = |r1 v + r2| the same in distribution for v and -v
    (v = 2d + 1): B cannot tell d = 0 from d = -1 by the size of |t|. With r2 in [0, r1),
    |t| >= r1 exactly when v > 0, and B guessed the bit next to a bound 75 % of the time
    (#12; docs/design.md). |r2| < r1 <= r1 |v| keeps the sign of t the sign of v.
    """
    r1 = tuple(secrets.randbelow((1 << params.sigma) - 1) + 1 for _ in range(count))
    return Blinding(
        flips=tuple(secrets.randbelow(2) for _ in range(count)),
        r1=r1,
        r2=tuple(secrets.randbelow(2 * r - 1) - (r - 1) for r in r1),
    )


def table_index(signs: Sequence[int]) -> int:
    """B's row of the answer table: bit 0 = u1 xor u2 (the heart-rate range), bit 1 = u3
    (the score), bit 2 = u4 (the rhythm).

    With lo <= hi a heart rate cannot be both too slow and too fast, so b1 or b2 = b1 xor
    b2 = (u1 xor u2) xor (c1 xor c2): one bit of B's signs decides the range, and the
    table needs 2^3 entries, not 2^4 (docs/design.md, "Four-entry answer table").
    """
    if len(signs) != CHECKS_PER_READING:
        raise ValueError(f"{CHECKS_PER_READING} signs per reading are needed")
    return (signs[0] ^ signs[1]) | (signs[2] << 1) | (signs[3] << 2)


def result_for_index(flips: Sequence[int], index: int) -> int:
    """The result bit at table row ``index`` for A's flips c1 ... c4:
    (x xor c1 xor c2) or (y xor c3) or (z xor c4), with (x, y, z) the bits of ``index``."""
    c1, c2, c3, c4 = flips
    return int(((index & 1) ^ c1 ^ c2) | (((index >> 1) & 1) ^ c3) | (((index >> 2) & 1) ^ c4))


def a1_differences(
    pk: PublicKey,
    reading: EncryptedReading,
    bounds: EncryptedBounds,
    params: ComparisonParams = DEFAULT_PARAMS,
) -> tuple[int, int, int, int]:
    """Step a1: the four differences whose sign (d >= 0) is a violation; the same work
    whether the heart rate is missing or not."""
    n2: int = pk.nsquare
    minus_one = unsafe_encrypt_without_noise(pk, pk.n - 1)  # masked by the inputs' noise

    def inverse(c: int) -> int:
        return int(gmpy2.invert(c, n2))

    slow_side_rate = (
        reading.heart_rate * scalar_mul(pk, reading.rate_missing, params.rate_missing_shift) % n2
    )
    too_slow = bounds.low * inverse(slow_side_rate) % n2 * minus_one % n2
    too_fast = reading.heart_rate * inverse(bounds.high) % n2 * minus_one % n2
    abnormal = reading.score * inverse(bounds.threshold) % n2
    irregular = reading.irregularity * inverse(bounds.irregularity_threshold) % n2
    return too_slow, too_fast, abnormal, irregular


def a2_blind(
    pk: PublicKey,
    differences: Sequence[int],
    blinding: Blinding,
    params: ComparisonParams = DEFAULT_PARAMS,
) -> tuple[int, ...]:
    """Step a2: E(t'_i) = E(d)^(+-2 r1) * E(+-(r1 + r2) + 2^(k-1)).

    Both signs cost the same: the inverse is always computed, then one is chosen.
    """
    n2: int = pk.nsquare
    offset = 1 << (params.slot_bits - 1)
    slots = []
    for d, c, r1, r2 in zip(differences, blinding.flips, blinding.r1, blinding.r2, strict=True):
        candidates = (d, int(gmpy2.invert(d, n2)))
        sign = 1 - 2 * c
        scaled = scalar_mul(pk, candidates[c], 2 * r1)
        shift = unsafe_encrypt_without_noise(pk, sign * (r1 + r2) + offset)
        slots.append(scaled * shift % n2)
    return tuple(slots)


def a3_pack(
    pk: PublicKey, slots: Sequence[int], noise: int, params: ComparisonParams = DEFAULT_PARAMS
) -> int:
    """Step a3: E(sum_j t'_j 2^(k j)) by Horner's rule (k squarings per slot), re-randomised.

    Raises:
        ValueError: more slots than fit below N.
    """
    if not 0 < len(slots) <= params.slots_per_ciphertext(pk.n):
        raise ValueError(f"{len(slots)} slots do not fit one ciphertext")
    n2: int = pk.nsquare
    packed = slots[-1]
    for slot in reversed(slots[:-1]):
        packed = int(gmpy2.powmod(packed, 1 << params.slot_bits, n2)) * slot % n2
    return rerandomise(pk, packed, noise)


def a4_answer_table(
    pk_physician: PublicKey, flips: Sequence[int], noise: Callable[[], int]
) -> tuple[int, ...]:
    """Step a4: Enc_pkD(result) for every row B may pick (:func:`table_index`), each with
    a fresh r^N from ``noise`` (a pool's ``take``)."""
    return tuple(
        encrypt(pk_physician, result_for_index(flips, row), noise())
        for row in range(ANSWER_TABLE_SIZE)
    )


def prepare_reading(
    pk: PublicKey,
    pk_physician: PublicKey,
    reading: EncryptedReading,
    bounds: EncryptedBounds,
    physician_noise: Callable[[], int],
    params: ComparisonParams = DEFAULT_PARAMS,
) -> PreparedReading:
    """Steps a1, a2 and a4 for one reading; the same work whatever its values."""
    blinding = draw_blinding(params)
    slots = a2_blind(pk, a1_differences(pk, reading, bounds, params), blinding, params)
    return PreparedReading(slots, a4_answer_table(pk_physician, blinding.flips, physician_noise))


def readings_per_pack(pk: PublicKey, params: ComparisonParams = DEFAULT_PARAMS) -> int:
    """How many whole readings (four slots each) share one packed ciphertext."""
    return params.slots_per_ciphertext(pk.n) // CHECKS_PER_READING


def b1_open_pack(
    share_b: KeyShare, pk: PublicKey, pack: int, pdec1: int, pdec2: int | None = None
) -> int:
    """Step b1: B's partial decryption (computed now, or ahead: ``pdec2``) and A's combined."""
    own = share_b.partial_decrypt(pack) if pdec2 is None else pdec2
    return combine_partial_decryptions(pk, pdec1, own)


def b2_read_signs(
    packed: int, slot_count: int, params: ComparisonParams = DEFAULT_PARAMS
) -> list[int]:
    """Step b2: u_j = [t'_j >= 2^(k-1)] for each slot.

    Raises:
        SlotOutOfBand: a slot (or bits above the last slot) is outside the honest band;
            A then re-runs the pack's readings one by one.
    """
    k = params.slot_bits
    if packed >> (k * slot_count):
        raise SlotOutOfBand("bits set above the last slot")
    half = 1 << (k - 1)
    signs = []
    for j in range(slot_count):
        slot = (packed >> (k * j)) & ((1 << k) - 1)
        if abs(slot - half) >= params.band:
            raise SlotOutOfBand(f"slot {j} outside the honest band")
        signs.append(int(slot >= half))
    return signs


def b3_pick_answer(
    pk_physician: PublicKey, answer_table: Sequence[int], signs: Sequence[int], noise: int
) -> int:
    """Step b3: the table entry of B's signs, re-randomised so A cannot tell which it was."""
    if len(answer_table) != ANSWER_TABLE_SIZE or len(signs) != CHECKS_PER_READING:
        raise ValueError("answer table or sign count does not match the protocol")
    return rerandomise(pk_physician, answer_table[table_index(signs)], noise)


def b_answer_pack(
    share_b: KeyShare,
    pk: PublicKey,
    pack: int,
    pdec1: int,
    tables: Sequence[tuple[PublicKey, Sequence[int]]],
    noise: Callable[[PublicKey], int] = fresh_noise,
    params: ComparisonParams = DEFAULT_PARAMS,
    pdec2: int | None = None,
) -> list[int]:
    """Steps b1-b3 for one pack holding ``len(tables)`` readings, in slot order.

    ``noise(pk_D)`` supplies a never-used r^N under the physician's key (a pool's ``take``);
    ``pdec2``: B's partial decryption when computed ahead (``protocol.sealed_share``).

    Raises:
        SlotOutOfBand: see :func:`b2_read_signs`.
    """
    signs = b2_read_signs(
        b1_open_pack(share_b, pk, pack, pdec1, pdec2), CHECKS_PER_READING * len(tables), params
    )
    answers = []
    for j, (pk_physician, table) in enumerate(tables):
        reading_signs = signs[CHECKS_PER_READING * j : CHECKS_PER_READING * (j + 1)]
        answers.append(b3_pick_answer(pk_physician, table, reading_signs, noise(pk_physician)))
    return answers
