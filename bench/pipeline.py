"""The baseline protocol run in one process, party by party, as the bench times it.

Each function is one party's share of the work, called with the same arguments the
services would use; noise comes from :class:`Pools` (pre-filled or empty, in which case
every ``take`` computes fresh randomness inline, i.e. the cost of a refill).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol.paillier import NoisePool, PublicKey, decrypt, encrypt

LOW, HIGH, THRESHOLD = 600, 1000, 5000
"""The patient's healthy range 60.0-100.0 bpm and CNN threshold p >= 0.5."""

NOISE_PER_READING = {"a_system": 1, "a_physician": 8, "b_physician": 1, "device": 2}
"""r^N values one reading uses: A's pack re-randomisation (shared by a pack, counted per
reading as an upper bound), A's 8 answer-table entries, B's re-randomised answer, and the
device's two encryptions."""


@dataclass
class Pools:
    """The noise pools of each party; empty pools compute on demand."""

    a_system: NoisePool
    a_physician: NoisePool
    b_physician: NoisePool
    device: NoisePool

    @classmethod
    def empty(cls, keys: BenchKeys) -> Pools:
        """Pools that hold nothing: every draw is computed inline."""
        return cls(
            NoisePool(keys.pk, 0),
            NoisePool(keys.pk_physician, 0),
            NoisePool(keys.pk_physician, 0),
            NoisePool(keys.pk, 0),
        )

    def fill_for(self, readings: int) -> None:
        """Pre-compute enough noise for ``readings`` readings."""
        for name, per_reading in NOISE_PER_READING.items():
            pool: NoisePool = getattr(self, name)
            pool.fill(per_reading * readings)


@dataclass(frozen=True)
class Workload:
    """Plain readings (tenths of bpm, score x 10^4) and the patient's encrypted bounds."""

    plain: list[tuple[int, int]]
    bounds: cmp.EncryptedBounds
    expected: list[int] = field(default_factory=list)


def sample_readings(count: int) -> list[tuple[int, int]]:
    """Readings spread over normal and abnormal values (30-200 bpm, any score)."""
    return [(300 + secrets.randbelow(1701), secrets.randbelow(10_001)) for _ in range(count)]


def expected_bit(heart_rate: int, score: int) -> int:
    """The bit the physician must read for this reading."""
    return int(heart_rate < LOW or heart_rate > HIGH or score >= THRESHOLD)


def make_workload(keys: BenchKeys, count: int) -> Workload:
    """``count`` sample readings and the encrypted bounds they are checked against."""
    plain = sample_readings(count)
    bounds = cmp.EncryptedBounds(
        encrypt(keys.pk, LOW), encrypt(keys.pk, HIGH), encrypt(keys.pk, THRESHOLD)
    )
    return Workload(plain, bounds, [expected_bit(hr, s) for hr, s in plain])


def device_encrypt(keys: BenchKeys, hr: int, score: int, pools: Pools) -> cmp.EncryptedReading:
    """Device: E(hr), E(s) under the system key."""
    return cmp.EncryptedReading(
        encrypt(keys.pk, hr, pools.device.take()), encrypt(keys.pk, score, pools.device.take())
    )


def a_prepare(
    keys: BenchKeys, reading: cmp.EncryptedReading, bounds: cmp.EncryptedBounds, pools: Pools
) -> cmp.PreparedReading:
    """A: steps a1, a2, a4 for one reading."""
    return cmp.prepare_reading(keys.pk, keys.pk_physician, reading, bounds, pools.a_physician)


def a_pack(keys: BenchKeys, group: Sequence[cmp.PreparedReading], pools: Pools) -> int:
    """A: step a3 for a group of readings (at most ``readings_per_pack``)."""
    return cmp.a3_pack(keys.pk, [s for p in group for s in p.slots], pools.a_system.take())


def b_answer(
    keys: BenchKeys, group: Sequence[cmp.PreparedReading], pack: int, pdec1: int, pools: Pools
) -> list[int]:
    """B: steps b1-b3 for one pack."""

    def noise(_: PublicKey) -> int:
        return pools.b_physician.take()

    tables = [(keys.pk_physician, p.answer_table) for p in group]
    return cmp.b_answer_pack(keys.share_b, keys.pk, pack, pdec1, tables, noise)


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
    """Server side (A and B) for a batch: prepare, pack ``readings_per_pack`` a ciphertext,
    both partial decryptions, B's answers. Returns Enc_pkD(bit) per reading, in order."""
    prepared = [a_prepare(keys, r, bounds, pools) for r in readings]
    per_pack = cmp.readings_per_pack(keys.pk)
    answers: list[int] = []
    for start in range(0, len(prepared), per_pack):
        group = prepared[start : start + per_pack]
        pack = a_pack(keys, group, pools)
        pdec1 = keys.share_a.partial_decrypt(pack)
        answers.extend(b_answer(keys, group, pack, pdec1, pools))
    return answers


def physician_decrypt(keys: BenchKeys, answer: int) -> int:
    """Physician: the bit, by CRT decryption with sk_D."""
    return decrypt(keys.sk_physician, answer)
