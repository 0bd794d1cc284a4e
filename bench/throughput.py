"""Batched throughput of the server side (A and B): readings per second by batch size.

The baseline mode by default; the zero-leakage mode (``mode="zero-leakage"``) is measured
the same way, so that both modes' sustained rates use the same two cores.

A batch is packed ``readings_per_pack`` readings per ciphertext, many packs per round.
Each configuration runs in one process or across a pool of worker processes (one per
core), with noise pools pre-filled before the clock starts ("burst") or empty, so that
every r^N is computed inline ("sustained": the cost of refilling is included), full-size
or by DJN short exponents (``protocol.paillier.NoiseScheme``).
The physician's decryption runs on the physician's machine and is not counted here.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any, Literal

from bench import pipeline as pl
from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol import dgk
from protocol.paillier import NoiseScheme

BARRIER_TIMEOUT_S = 600.0
SETTINGS: tuple[tuple[bool, NoiseScheme], ...] = ((True, "full"), (False, "full"), (False, "djn"))
"""(pools pre-filled, noise scheme) of each measured configuration."""
SUSTAINED_SETTINGS: tuple[tuple[bool, NoiseScheme], ...] = ((False, "full"), (False, "djn"))
"""The refill-included configurations only (the zero-leakage mode's)."""
Mode = Literal["baseline", "zero-leakage"]

_worker_keys: BenchKeys | None = None
_worker_barrier: Barrier | None = None


@dataclass(frozen=True)
class ThroughputResult:
    """One batch size in one configuration.

    Attributes:
        batch: readings per round.
        workers: 1 (this process) or the pool size.
        prefilled: noise pools filled before timing (False: refill cost included).
        noise: how each r^N is drawn.
        readings_per_s: median over rounds.
        ms_per_reading: wall time per reading, median over rounds.
        rounds: how many rounds were timed.
        mode: the comparison mode measured.
    """

    batch: int
    workers: int
    prefilled: bool
    noise: NoiseScheme
    readings_per_s: float
    ms_per_reading: float
    rounds: int
    mode: Mode = "baseline"

    @property
    def pools(self) -> str:
        """The noise column, in words."""
        if self.prefilled:
            return "pre-filled"
        return "refill included" + (", DJN noise" if self.noise == "djn" else "")


def _init_worker(keys: BenchKeys, barrier: Barrier) -> None:
    global _worker_keys, _worker_barrier
    _worker_keys, _worker_barrier = keys, barrier


@dataclass(frozen=True)
class _Chunk:
    """One process's share of a round (picklable, sent to a worker)."""

    readings: Sequence[cmp.EncryptedReading]
    bounds: cmp.EncryptedBounds
    prefill: bool
    noise: NoiseScheme
    dgk_key: dgk.DgkSecretKey | None  # the zero-leakage mode's; None: the baseline


def _timed_chunk(
    keys: BenchKeys, chunk: _Chunk, barrier: Barrier | None
) -> tuple[float, float, list[int]]:
    pools = pl.Pools.empty(keys, chunk.noise)
    if chunk.prefill:
        pools.fill_for(len(chunk.readings))
    if barrier is not None:  # start every worker's clock together, after its pre-fill
        barrier.wait(BARRIER_TIMEOUT_S)
    start = time.perf_counter()
    if chunk.dgk_key is None:
        answers = pl.check_readings(keys, chunk.readings, chunk.bounds, pools)
    else:
        from bench.zero_leakage import check_readings_zero_leakage

        answers = check_readings_zero_leakage(
            keys, chunk.dgk_key, chunk.readings, chunk.bounds, pools
        )
    return start, time.perf_counter(), answers


def _worker_chunk(chunk: _Chunk) -> tuple[float, float, list[int]]:
    assert _worker_keys is not None, "worker started without keys"
    return _timed_chunk(_worker_keys, chunk, _worker_barrier)


def _split(items: Sequence[cmp.EncryptedReading], parts: int, unit: int) -> list[list[Any]]:
    """``parts`` pack-aligned chunks of about equal size."""
    packs = [list(items[i : i + unit]) for i in range(0, len(items), unit)]
    return [[r for pack in packs[p::parts] for r in pack] for p in range(parts)]


def measure_throughput(
    keys: BenchKeys,
    batch_sizes: Sequence[int],
    rounds: int,
    workers: int | None = None,
    *,
    mode: Mode = "baseline",
    settings: Sequence[tuple[bool, NoiseScheme]] = SETTINGS,
) -> list[ThroughputResult]:
    """Readings per second at each batch size, serial and pooled, in each of ``settings``
    (burst and sustained by default), for ``mode``.

    The pool is used only for batches of at least one pack per worker.

    Raises:
        AssertionError: a bit came out wrong.
    """
    workers = workers or os.cpu_count() or 1
    dgk_key: dgk.DgkSecretKey | None = None
    if mode == "zero-leakage":
        from bench.zero_leakage import dgk_key_for
        from protocol import zero_leakage as zl

        dgk_key, per_pack = dgk_key_for(keys.bits), zl.readings_per_pack(keys.pk)
    else:
        per_pack = cmp.readings_per_pack(keys.pk)
    work = pl.make_workload(keys, max(batch_sizes))
    device_pools = pl.Pools.empty(keys)
    readings = [pl.device_encrypt(keys, p, device_pools) for p in work.plain]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results: list[ThroughputResult] = []
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(keys, barrier)
    ) as executor:
        for batch in batch_sizes:
            subset, expected = readings[:batch], work.expected[:batch]
            for prefill, noise in settings:
                for pooled in (False, True):
                    if pooled and (workers < 2 or batch < workers * per_pack):
                        continue
                    rates = []
                    for _ in range(rounds):
                        if pooled:
                            chunks = _split(subset, workers, per_pack)
                            futures = [
                                executor.submit(
                                    _worker_chunk,
                                    _Chunk(c, work.bounds, prefill, noise, dgk_key),
                                )
                                for c in chunks
                            ]
                            outcomes = [f.result() for f in futures]
                            order = [r for c in chunks for r in c]
                            answers = [a for o in outcomes for a in o[2]]
                            by_reading = dict(zip(map(id, order), answers, strict=True))
                            answers = [by_reading[id(r)] for r in subset]
                        else:
                            chunk = _Chunk(subset, work.bounds, prefill, noise, dgk_key)
                            outcomes = [_timed_chunk(keys, chunk, None)]
                            answers = outcomes[0][2]
                        elapsed = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
                        bits = [pl.physician_decrypt(keys, a) for a in answers]
                        assert bits == expected, "throughput run produced a wrong bit"
                        rates.append(batch / elapsed)
                    rate = statistics.median(rates)
                    results.append(
                        ThroughputResult(
                            batch,
                            workers if pooled else 1,
                            prefill,
                            noise,
                            rate,
                            1000 / rate,
                            rounds,
                            mode,
                        )
                    )
    return results
