"""The baseline protocol run in one process, party by party, as the bench times it.

Each step function is one party's share of the work (``bench.steps`` times them one by
one); :func:`check_readings` runs a batch through the mode objects the servers use
(``protocol.modes``), with B behind an in-memory transport. Noise comes from
:class:`Pools` (pre-filled or empty, in which case every ``take`` computes fresh
randomness inline, i.e. the cost of a refill).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol.ciphertext import decode_ciphertext
from protocol.modes.baseline import BaselineA, BaselineB
from protocol.modes.memory import answers_in_order, compare_in_memory, jobs_for
from protocol.paillier import (
    NoisePool,
    NoiseScheme,
    PublicKey,
    decrypt_small,
    encrypt,
    unsafe_encrypt_without_noise,
)

LOW, HIGH, THRESHOLD, IRREGULARITY_THRESHOLD = 600, 1000, 5000, 1500
"""The patient's healthy range 60.0-100.0 bpm, CNN threshold p >= 0.5 and irregularity
threshold q >= 0.15."""

NOISE_PER_READING = {"a_system": 1, "a_physician": 8, "b_physician": 1, "device": 4}
"""r^N values one reading uses: A's pack re-randomisation (shared by a pack, counted per
reading as an upper bound), A's 8 answer-table entries, B's re-randomised answer, and the
device's four encryptions."""


class Plain(NamedTuple):
    """One reading in the clear: tenths of a bpm, score x 10^4, irregularity x 10^4, and
    1 when the device found no heart rate (then hr = 0)."""

    hr: int
    score: int
    irregularity: int
    rate_missing: int = 0


@dataclass
class Pools:
    """The noise pools of each party; empty pools compute on demand."""

    a_system: NoisePool
    a_physician: NoisePool
    b_physician: NoisePool
    device: NoisePool

    @classmethod
    def empty(cls, keys: BenchKeys, scheme: NoiseScheme = "full") -> Pools:
        """Pools that hold nothing: every draw is computed inline, by ``scheme``."""
        return cls(
            NoisePool(keys.pk, 0, scheme),
            NoisePool(keys.pk_physician, 0, scheme),
            NoisePool(keys.pk_physician, 0, scheme),
            NoisePool(keys.pk, 0, scheme),
        )

    def a_noise(self, key: PublicKey) -> int:
        """A's r^N: the pack's under the system key, the tables' under pk_D."""
        return (self.a_system if key.n == self.a_system.public_key.n else self.a_physician).take()

    def b_noise(self, _: PublicKey) -> int:
        """B's r^N for re-randomising an answer under pk_D."""
        return self.b_physician.take()

    def fill_for(self, readings: int) -> None:
        """Pre-compute enough noise for ``readings`` readings."""
        for name, per_reading in NOISE_PER_READING.items():
            pool: NoisePool = getattr(self, name)
            pool.fill(per_reading * readings)


@dataclass(frozen=True)
class Workload:
    """Plain readings and the patient's encrypted bounds."""

    plain: list[Plain]
    bounds: cmp.EncryptedBounds
    expected: list[int] = field(default_factory=list)


def sample_readings(count: int) -> list[Plain]:
    """Readings spread over normal and abnormal values (30-200 bpm, any score, any
    irregularity), one in ten without a heart rate (the work is the same)."""
    readings = []
    for _ in range(count):
        rate_missing = int(secrets.randbelow(10) == 0)
        hr = 0 if rate_missing else 300 + secrets.randbelow(1701)
        readings.append(
            Plain(hr, secrets.randbelow(10_001), secrets.randbelow(10_001), rate_missing)
        )
    return readings


def expected_bit(reading: Plain) -> int:
    """The bit the physician must read for this reading."""
    hr, score, irregularity, rate_missing = reading
    out_of_range = not rate_missing and not LOW <= hr <= HIGH
    return int(out_of_range or score >= THRESHOLD or irregularity >= IRREGULARITY_THRESHOLD)


def plain_bounds(pk: PublicKey) -> cmp.EncryptedBounds:
    """The bench patient's bounds encrypted without noise (for the leakage views only)."""
    return cmp.EncryptedBounds(
        *(
            unsafe_encrypt_without_noise(pk, v)
            for v in (LOW, HIGH, THRESHOLD, IRREGULARITY_THRESHOLD)
        )
    )


def plain_reading(pk: PublicKey, reading: Plain) -> cmp.EncryptedReading:
    """A reading encrypted without noise (for the leakage views only)."""
    return cmp.EncryptedReading(*(unsafe_encrypt_without_noise(pk, v) for v in reading))


def make_workload(keys: BenchKeys, count: int) -> Workload:
    """``count`` sample readings and the encrypted bounds they are checked against."""
    plain = sample_readings(count)
    bounds = cmp.EncryptedBounds(
        *(encrypt(keys.pk, v) for v in (LOW, HIGH, THRESHOLD, IRREGULARITY_THRESHOLD))
    )
    return Workload(plain, bounds, [expected_bit(p) for p in plain])


def device_encrypt(keys: BenchKeys, reading: Plain, pools: Pools) -> cmp.EncryptedReading:
    """Device: E(hr), E(s), E(q) under the system key."""
    return cmp.EncryptedReading(*(encrypt(keys.pk, v, pools.device.take()) for v in reading))


def a_prepare(
    keys: BenchKeys, reading: cmp.EncryptedReading, bounds: cmp.EncryptedBounds, pools: Pools
) -> cmp.PreparedReading:
    """A: steps a1, a2, a4 for one reading."""
    return cmp.prepare_reading(keys.pk, keys.pk_physician, reading, bounds, pools.a_physician.take)


def a_pack(keys: BenchKeys, group: Sequence[cmp.PreparedReading], pools: Pools) -> int:
    """A: step a3 for a group of readings (at most ``readings_per_pack``)."""
    return cmp.a3_pack(keys.pk, [s for p in group for s in p.slots], pools.a_system.take())


PartialDecryptions = Callable[[BenchKeys, int], tuple[int, int]]
"""Computes (PDec_1, PDec_2) of a pack: one after the other, or concurrently."""


def sequential_partial_decryptions(keys: BenchKeys, pack: int) -> tuple[int, int]:
    """PDec_1 then PDec_2 in this thread."""
    return keys.share_a.partial_decrypt(pack), keys.share_b.partial_decrypt(pack)


def check_readings(
    keys: BenchKeys,
    readings: Sequence[cmp.EncryptedReading],
    bounds: cmp.EncryptedBounds,
    pools: Pools,
) -> list[int]:
    """Server side (A and B) for a batch, through the baseline mode's two halves: packs
    of ``readings_per_pack``, both partial decryptions, B's answers. Returns
    Enc_pkD(bit) per reading, in order."""
    mode_a = BaselineA(keys.share_a, pools.a_noise)
    mode_b = BaselineB(keys.share_b, keys.pk_physician.n.bit_length(), pools.b_noise)
    jobs = jobs_for(readings, bounds, keys.pk_physician)
    outcome, _ = compare_in_memory(mode_a, mode_b, jobs)
    answers = answers_in_order(outcome, jobs)
    if None in answers:
        raise AssertionError("an honest reading was rejected by the guard bits")
    return [decode_ciphertext(keys.pk_physician, a, "answer") for a in answers if a is not None]


def physician_decrypt(keys: BenchKeys, answer: int) -> int:
    """Physician: the bit, decrypted modulo sk_D's smaller prime (as the product does)."""
    return decrypt_small(keys.sk_physician, answer)
