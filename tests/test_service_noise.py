"""The servers' randomness pools: filled in the background, each value handed out once."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import gmpy2

from bench.zero_leakage import dgk_key_for
from protocol import dgk
from service_common.noise import NoisePoolCache

FILL_TIMEOUT_S = 30.0
IDLE_WAIT_S = 5.0  # how long the filler sleeps when nothing wakes it (NoisePoolCache._run)


def _wait_until(condition: Callable[[], bool], timeout_s: float = FILL_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_filler_keeps_the_r_n_and_the_dgk_pools_at_their_targets(system_keys):
    pk = system_keys[0]
    dgk_key = dgk_key_for(1024)
    cache = NoisePoolCache(target=3)
    make = functools.partial(dgk.random_factors, dgk_key.public)
    factors = cache.dgk_factors(make, per_reading=4)  # 12 re-randomisers
    dgk_pool = cache._dgk_pools[0]
    r_n_pool = cache.pool(pk)
    cache.start()
    try:
        assert _wait_until(lambda: len(r_n_pool) == 3 and len(dgk_pool) == 12)
        time.sleep(0.3)  # the filler is now in its idle wait
        drawn = factors(10)
        assert len(set(drawn)) == 10
        assert all(gmpy2.powmod(r, dgk_key.v_p * dgk_key.v_q, dgk_key.public.n) == 1 for r in drawn)
        # taking wakes the filler: the pool is full again long before its idle wait ends
        assert _wait_until(lambda: len(dgk_pool) == 12, timeout_s=IDLE_WAIT_S / 2)
        assert not set(factors(12)) & set(drawn)
    finally:
        cache.stop()


def test_no_pooling_computes_every_value_on_demand(system_keys):
    cache = NoisePoolCache(target=0)
    factors = cache.dgk_factors(functools.partial(dgk.key_holder_factors, dgk_key_for(1024)), 4)
    cache.start()  # nothing to start
    assert cache._thread is None
    assert len(set(factors(5))) == 5
    assert cache.take(system_keys[0]) != cache.take(system_keys[0])


def test_filler_defers_to_a_comparison_unless_a_pool_runs_low(system_keys):
    """While a comparison runs, a refill would take a core from its partial decryptions:
    the filler waits for the end, except for a pool below half its target."""
    pk = system_keys[0]
    cache = NoisePoolCache(target=8)
    pool = cache.pool(pk)
    cache.start()
    try:
        assert _wait_until(lambda: len(pool) == 8)
        with cache.foreground():
            pool.take_many(3)  # 5 left: above the low-water mark
            cache._wake.set()
            time.sleep(0.5)  # dozens of r^N's time at these test keys
            assert len(pool) == 5
            pool.take_many(3)  # 2 left: topped up to the mark, not beyond, meanwhile
            cache._wake.set()
            assert _wait_until(lambda: len(pool) >= 4)
            time.sleep(0.3)
            assert len(pool) == 4
        assert _wait_until(lambda: len(pool) == 8, timeout_s=IDLE_WAIT_S / 2)
    finally:
        cache.stop()


def test_filler_defers_to_another_process_signal(system_keys):
    """Server A's crypto process sees the worker's comparisons through ``defer``."""
    pk = system_keys[0]
    comparing = True
    cache = NoisePoolCache(target=4, defer=lambda: comparing)
    pool = cache.pool(pk)
    pool.fill(4)
    cache.start()
    try:
        pool.take_many(1)
        cache._wake.set()
        time.sleep(0.5)
        assert len(pool) == 3
        comparing = False  # no wake-up: the filler looks again on its own
        assert _wait_until(lambda: len(pool) == 4, timeout_s=IDLE_WAIT_S / 2)
    finally:
        cache.stop()
