"""The zero-leakage mode (#8) run in one process: for the bench and tests.

:func:`run_zero_leakage_checks_in_memory` runs both rounds for a list of readings through
the mode objects the servers use (``protocol.modes.zero_leakage``; packs of whole
readings, one B call per round for the whole batch, B behind an in-memory transport) and
returns the physician's ciphertexts with each party's seconds;
:func:`record_zero_leakage_view` plugs the mode's view of B into ``bench.modes``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import modes
from bench import pipeline as pl
from bench.keys import BenchKeys
from bench.stats import Summary, summarise
from protocol import comparison as cmp
from protocol import dgk
from protocol import zero_leakage as zl
from protocol.ciphertext import decode_ciphertext
from protocol.keys import KeyShare
from protocol.modes.base import Offload, inline
from protocol.modes.memory import answers_in_order, compare_in_memory, jobs_for
from protocol.modes.zero_leakage import TERMS_PER_READING, ZeroLeakageA, ZeroLeakageB
from protocol.paillier import (
    NoisePool,
    NoiseScheme,
    PublicKey,
    decrypt,
    encrypt,
    fresh_noise,
)
from protocol.params import ANSWER_TABLE_SIZE, CHECKS_PER_READING
from protocol.pool import UseOncePool

BENCH_DGK_BITS = {1024: (1024, 160)}
"""DGK (n bits, t) per system key size: tests at 1024 bits use a small DGK key too."""


@dataclass
class PartyTimes:
    """Seconds spent by each party's steps in one run (A: a1-a4, B: b1-b4)."""

    a_seconds: float = 0.0
    b_seconds: float = 0.0


@dataclass(frozen=True)
class ZeroLeakageRun:
    """Outcome of :func:`run_zero_leakage_checks_in_memory`.

    Attributes:
        answers: Enc_pkD(bit) per reading, in input order (None: caught by the guard bits).
        times: CPU-bound seconds per party (the wire is not included).
    """

    answers: list[int | None]
    times: PartyTimes


@functools.cache
def dgk_key_for(system_bits: int) -> dgk.DgkSecretKey:
    """A DGK key to go with a system key of ``system_bits`` bits, made once per process.

    2048-bit system keys get the deployment default (2048-bit n, t = 224; about 20-60 s).
    """
    n_bits, t = BENCH_DGK_BITS.get(system_bits, (dgk.DGK_MODULUS_BITS, dgk.DGK_SUBGROUP_BITS))
    return dgk.generate_dgk_keypair(n_bits, t)


def run_zero_leakage_checks_in_memory(
    system: tuple[PublicKey, KeyShare, KeyShare],
    dgk_sk: dgk.DgkSecretKey,
    pk_physician: PublicKey,
    readings: Sequence[cmp.EncryptedReading],
    bounds: cmp.EncryptedBounds,
    noise: Callable[[PublicKey], int] = fresh_noise,
    *,
    pdec_ahead: bool = True,
    offload: Offload = inline,
    a_factors: Callable[[int], list[int]] | None = None,
    b_factors: Callable[[int], list[int]] | None = None,
) -> ZeroLeakageRun:
    """Range checks of ``readings`` against one patient's ``bounds`` in the zero-leakage mode.

    All readings form one batch: round 1 and round 2 are each one call to B for all packs.
    A pack rejected by the guard bits is re-run reading by reading, as A does, and the
    reading that still fails gets ``None``.

    Args:
        system: the system public key and the shares of A and B.
        dgk_sk: B's DGK key (A uses only ``dgk_sk.public``).
        pk_physician: the physician's key, under which the answers are made.
        readings: E(hr), E(score) per reading under the system key.
        bounds: the patient's E(lo), E(hi), E(tau).
        noise: r^N under a given key (a pool's ``take``); fresh by default.
        pdec_ahead: B's partial decryption at the same time as A's (as the services do).
        offload: where A's CPU work between rounds runs (``asyncio.to_thread``: PDec_1
            overlaps B's PDec_2, as in the services).
        a_factors, b_factors: A's and B's DGK re-randomisers (pools' ``take``); fresh
            ones by default.

    Returns:
        Answers (Enc_pkD(bit) or None) in input order and per-party seconds.
    """
    _, share_a, share_b = system
    mode_a = ZeroLeakageA(
        share_a, dgk_sk.public, noise, pdec_ahead=pdec_ahead, dgk_factors=a_factors
    )
    mode_b = ZeroLeakageB(share_b, dgk_sk, pk_physician.n.bit_length(), noise, b_factors)
    jobs = jobs_for(readings, bounds, pk_physician)
    started = time.perf_counter()
    outcome, transport = compare_in_memory(mode_a, mode_b, jobs, offload)
    elapsed = time.perf_counter() - started
    answers = [
        None if text is None else decode_ciphertext(pk_physician, text, "answer")
        for text in answers_in_order(outcome, jobs)
    ]
    times = PartyTimes(elapsed - transport.peer_seconds, transport.peer_seconds)
    return ZeroLeakageRun(answers, times)


def check_readings_zero_leakage(
    keys: BenchKeys,
    dgk_sk: dgk.DgkSecretKey,
    readings: Sequence[cmp.EncryptedReading],
    bounds: cmp.EncryptedBounds,
    pools: pl.Pools,
) -> list[int]:
    """Server side (A and B) for a batch in this mode, as ``bench.pipeline.check_readings``
    does for the baseline (PDec_1 on a thread beside B's, as the services run it).

    Raises:
        AssertionError: an honest reading was rejected by the guard bits.
    """
    run = run_zero_leakage_checks_in_memory(
        (keys.pk, keys.share_a, keys.share_b), dgk_sk, keys.pk_physician, readings, bounds,
        pools.a_noise, offload=asyncio.to_thread,
    )  # fmt: skip
    if None in run.answers:
        raise AssertionError("an honest reading was rejected by the guard bits")
    return [a for a in run.answers if a is not None]


def record_zero_leakage_view(keys: BenchKeys, checks: int) -> tuple[list[int], list[int]]:
    """B's view per check (z - 2^(l+1+kappa), centred like the baseline's t) and the true
    distance to the bound, for ``bench.modes``.

    Runs a1, a2, both partial decryptions and b1 for real over sampled readings; B's DGK
    rounds add only u, a fair coin (tests/test_protocol_zero_leakage.py checks it), so
    they are left out to keep many trials affordable. As for the baseline, inputs are
    encrypted without noise: B's opened values do not depend on it.
    """
    params = zl.DEFAULT_ZL_PARAMS
    per_pack = zl.readings_per_pack(keys.pk, params)
    bounds = pl.plain_bounds(keys.pk)
    plain = pl.sample_readings(-(-checks // CHECKS_PER_READING))
    views: list[int] = []
    secrets_: list[int] = []
    for start in range(0, len(plain), per_pack):
        differences: list[int] = []
        for values in plain[start : start + per_pack]:
            reading = pl.plain_reading(keys.pk, values)
            differences.extend(cmp.a1_differences(keys.pk, reading, bounds))
            secrets_.extend(modes.distances(values))
        masks = zl.draw_masks(len(differences), params)
        pack = zl.a2_mask_and_pack(keys.pk, differences, masks, 1, params)
        opened = zl.b1_open_pack(
            keys.share_b, keys.pk, pack, keys.share_a.partial_decrypt(pack), len(differences)
        )
        views.extend(z - (1 << params.mask_bits) for z in opened)
    return views[:checks], secrets_[:checks]


ZERO_LEAKAGE = modes.register(
    modes.ComparisonMode(
        "zero_leakage",
        "additive mask + DGK/Veugen bitwise comparison (#8): B sees z = d + 2^l + R, u",
        record_zero_leakage_view,
    )
)


def measure_zero_leakage(
    keys: BenchKeys,
    readings: int,
    repeats: int,
    *,
    prefilled: bool = False,
    noise_scheme: NoiseScheme = "full",
) -> Summary:
    """Milliseconds per range check (one reading, three comparisons) in this mode.

    Each repeat checks ``readings`` readings of one patient as one batch (packs of
    ``zl.readings_per_pack`` readings, one B call per round) and divides the wall time by
    ``readings``. The DGK key is made once, untimed (setup does it offline).

    Args:
        keys: the bench's system and physician keys.
        readings: readings per batch.
        repeats: timed batches (after one untimed warm-up batch).
        prefilled: draw r^N and both servers' DGK re-randomisers from pools filled
            beforehand (the burst case, as the servers' filler threads keep them); otherwise
            each is computed inline (the sustained case).
        noise_scheme: how each r^N is drawn.

    Returns:
        Median and spread of the per-check cost.
    """
    dgk_sk = dgk_key_for(keys.bits)
    workload = pl.make_workload(keys, readings)
    encrypted = [cmp.EncryptedReading(*(encrypt(keys.pk, v) for v in p)) for p in workload.plain]
    system = (keys.pk, keys.share_a, keys.share_b)
    samples: list[float] = []
    for attempt in range(repeats + 1):
        pools = {
            keys.pk.n: NoisePool(keys.pk, 0, noise_scheme),
            keys.pk_physician.n: NoisePool(keys.pk_physician, 0, noise_scheme),
        }
        factors = (
            UseOncePool(functools.partial(dgk.random_factors, dgk_sk.public), 0),
            UseOncePool(functools.partial(dgk.key_holder_factors, dgk_sk), 0),
        )
        if prefilled:
            pools[keys.pk.n].fill(readings)
            pools[keys.pk_physician.n].fill((ANSWER_TABLE_SIZE + 1) * readings)
            for pool in factors:
                pool.fill(TERMS_PER_READING * readings)

        def noise(key: PublicKey, pools: dict[int, NoisePool] = pools) -> int:
            return pools[key.n].take()

        begin = time.perf_counter()
        run = run_zero_leakage_checks_in_memory(
            system, dgk_sk, keys.pk_physician, encrypted, workload.bounds, noise,
            offload=asyncio.to_thread,
            a_factors=factors[0].take_many, b_factors=factors[1].take_many,
        )  # fmt: skip
        elapsed_ms = (time.perf_counter() - begin) * 1000
        bits = [None if a is None else decrypt(keys.sk_physician, a) for a in run.answers]
        if bits != workload.expected:
            raise AssertionError("the zero-leakage mode returned a wrong bit")
        if attempt:
            samples.append(elapsed_ms / readings)
    return summarise(samples)
