"""Per reading: the time of each protocol step by party, and of one full range check.

"One full range check" is one reading's four comparisons and its output bit: a1-a4, the
pack (a3), both partial decryptions, b2, b3 and the physician's decryption. The device's
encryption is reported on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench import pipeline as pl
from bench.keys import BenchKeys
from bench.stats import Summary, time_ms
from protocol import comparison as cmp
from protocol.keys import combine_partial_decryptions
from protocol.paillier import NoiseScheme, encrypt
from protocol.params import CHECKS_PER_READING


@dataclass(frozen=True)
class StepResult:
    """One protocol step's cost for one reading.

    Attributes:
        party: device, A, B or physician.
        step: the step's name as in protocol/comparison.py.
        summary: median/IQR in ms.
    """

    party: str
    step: str
    summary: Summary


@dataclass(frozen=True)
class CheckResult:
    """One full range check measured in one configuration.

    Attributes:
        name: a short key (used in JSON).
        label: what was measured, for the table.
        summary: per reading, in ms.
    """

    name: str
    label: str
    summary: Summary


class ConcurrentPartialDecryptions:
    """PDec_1 and PDec_2 at once on two threads (``long_powmod`` releases the GIL), as the
    services run them (``protocol.sealed_share``)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(2)

    def __call__(self, keys: BenchKeys, pack: int) -> tuple[int, int]:
        first = self._executor.submit(keys.share_a.partial_decrypt, pack)
        second = self._executor.submit(keys.share_b.partial_decrypt, pack)
        return first.result(), second.result()

    def close(self) -> None:
        """Stop the threads."""
        self._executor.shutdown()


def full_check(
    keys: BenchKeys,
    readings: list[cmp.EncryptedReading],
    bounds: cmp.EncryptedBounds,
    pools: pl.Pools,
    partial_decryptions: pl.PartialDecryptions,
) -> list[int]:
    """One pack's readings through every step to the physician's bits."""
    prepared = [pl.a_prepare(keys, r, bounds, pools) for r in readings]
    pack = pl.a_pack(keys, prepared, pools)
    pdec1, pdec2 = partial_decryptions(keys, pack)
    signs = cmp.b2_read_signs(
        combine_partial_decryptions(keys.pk, pdec1, pdec2),
        CHECKS_PER_READING * len(prepared),
    )
    bits = []
    for j, p in enumerate(prepared):
        u = signs[CHECKS_PER_READING * j : CHECKS_PER_READING * (j + 1)]
        answer = cmp.b3_pick_answer(keys.pk_physician, p.answer_table, u, pools.b_physician.take())
        bits.append(pl.physician_decrypt(keys, answer))
    return bits


RHYTHM_STEP = "a2 + a4 with the rhythm check (4 checks, 8 entries)"
NO_RHYTHM_STEP = "a2 + a4 without it (3 checks, 4 entries)"


def measure_steps(keys: BenchKeys, repeats: int) -> list[StepResult]:
    """Each step of one reading, with pre-filled pools (device: both ways).

    Returns:
        Rows in protocol order.
    """
    work = pl.make_workload(keys, 1)
    pools = pl.Pools.empty(keys)
    pools.fill_for(4 * (repeats + 1))
    cold = pl.Pools.empty(keys)
    plain = work.plain[0]
    reading = pl.device_encrypt(keys, plain, pools)
    differences = cmp.a1_differences(keys.pk, reading, work.bounds)
    blinding = cmp.draw_blinding()
    prepared = pl.a_prepare(keys, reading, work.bounds, pools)
    pack = pl.a_pack(keys, [prepared], pools)
    pdec1 = keys.share_a.partial_decrypt(pack)
    opened = cmp.b1_open_pack(keys.share_b, keys.pk, pack, pdec1)
    signs = cmp.b2_read_signs(opened, CHECKS_PER_READING)
    answer = cmp.b3_pick_answer(keys.pk_physician, prepared.answer_table, signs, 1)

    def a2() -> object:
        return cmp.a2_blind(keys.pk, differences, cmp.draw_blinding())

    # What the rhythm check adds to A's per-reading work (#14): a2 and a4 with all four
    # checks (8 table entries), against the same code on the first three checks with the
    # 4-entry table they needed before, timed in the same run with the same pools.
    def with_rhythm() -> object:
        a2()
        return cmp.a4_answer_table(keys.pk_physician, blinding.flips, pools.a_physician.take)

    def without_rhythm() -> object:
        cmp.a2_blind(keys.pk, differences[:3], cmp.draw_blinding(count=3))
        return [encrypt(keys.pk_physician, row & 1, pools.a_physician.take()) for row in range(4)]

    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("device", "encrypt hr, s, q, m (fresh r^N)", lambda: pl.device_encrypt(keys, plain, cold)),
        (
            "device",
            "encrypt hr, s, q, m (pooled r^N)",
            lambda: pl.device_encrypt(keys, plain, pools),
        ),
        ("A", "a1 differences", lambda: cmp.a1_differences(keys.pk, reading, work.bounds)),
        ("A", "a2 blind", a2),
        (
            "A",
            "a4 answer table (pooled)",
            lambda: cmp.a4_answer_table(keys.pk_physician, blinding.flips, pools.a_physician.take),
        ),
        ("A", "a3 pack (pooled)", lambda: pl.a_pack(keys, [prepared], pools)),
        ("A", "PDec_1", lambda: keys.share_a.partial_decrypt(pack)),
        ("B", "b1 PDec_2 + combine", lambda: cmp.b1_open_pack(keys.share_b, keys.pk, pack, pdec1)),
        ("B", "b2 read signs", lambda: cmp.b2_read_signs(opened, CHECKS_PER_READING)),
        (
            "B",
            "b3 pick answer (pooled)",
            lambda: cmp.b3_pick_answer(
                keys.pk_physician, prepared.answer_table, signs, pools.b_physician.take()
            ),
        ),
        ("physician", "decrypt bit (mod p only)", lambda: pl.physician_decrypt(keys, answer)),
        ("A", RHYTHM_STEP, with_rhythm),
        ("A", NO_RHYTHM_STEP, without_rhythm),
    ]
    return [StepResult(party, step, time_ms(fn, repeats)) for party, step, fn in cases]


def measure_checks(keys: BenchKeys, repeats: int) -> list[CheckResult]:
    """A full range check per reading, unbatched and packed, with and without pools.

    Raises:
        AssertionError: a bit came out wrong (the bench would be timing a broken protocol).
    """
    per_pack = cmp.readings_per_pack(keys.pk)
    work = pl.make_workload(keys, per_pack)
    device_pools = pl.Pools.empty(keys)
    readings = [pl.device_encrypt(keys, p, device_pools) for p in work.plain]
    concurrent = ConcurrentPartialDecryptions()
    try:
        sequential = pl.sequential_partial_decryptions
        # PDec_1 || PDec_2 is how the services run (HRMON_A_PDEC_AHEAD, default on); the
        # sequential rows are DESIGN.md's order, the lever's "before".
        configs: list[tuple[str, str, int, bool, NoiseScheme, pl.PartialDecryptions]] = [
            ("unbatched", "1 reading, pools pre-filled", 1, True, "full", concurrent),
            ("unbatched_sequential_pdec", "1 reading, pools, PDec_1 then PDec_2", 1, True,
             "full", sequential),
            ("unbatched_cold", "1 reading, no pools (refill included)", 1, False, "full",
             concurrent),
            ("unbatched_cold_djn", "1 reading, no pools, DJN short-exponent noise", 1, False,
             "djn", concurrent),
            ("packed", f"{per_pack} readings/pack, pools pre-filled", per_pack, True, "full",
             concurrent),
            ("packed_sequential_pdec", f"{per_pack} readings/pack, pools, PDec_1 then PDec_2",
             per_pack, True, "full", sequential),
            ("packed_cold", f"{per_pack} readings/pack, no pools (refill included)", per_pack,
             False, "full", concurrent),
            ("packed_cold_djn", f"{per_pack} readings/pack, no pools, DJN noise", per_pack,
             False, "djn", concurrent),
        ]  # fmt: skip
        results = []
        for name, label, count, prefill, scheme, pdec in configs:
            pools = pl.Pools.empty(keys, scheme)
            if prefill:
                pools.fill_for(count * (repeats + 1))
            subset, expected = readings[:count], work.expected[:count]

            def run(
                subset: list[cmp.EncryptedReading] = subset,
                expected: list[int] = expected,
                pools: pl.Pools = pools,
                pdec: pl.PartialDecryptions = pdec,
            ) -> None:
                bits = full_check(keys, subset, work.bounds, pools, pdec)
                assert bits == expected, "benchmark run produced a wrong bit"

            results.append(CheckResult(name, label, time_ms(run, repeats).scaled(count)))
        return results
    finally:
        concurrent.close()
