"""The leakage estimators: ~0 bits on independent data, clearly positive on dependent data."""

from __future__ import annotations

import math
import secrets

import pytest

from bench import modes
from bench.keys import BenchKeys
from bench.leakage import (
    entropy_bits,
    estimate_leakage,
    independent_view,
    magnitude_bin,
    mutual_information_bits,
)
from protocol import comparison as cmp
from protocol.params import CHECKS_PER_READING, DEFAULT_PARAMS


def test_magnitude_bin_is_floor_log2_of_abs_plus_one():
    assert [magnitude_bin(x) for x in (0, 1, -1, 2, 3, -7, 8, 1 << 90)] == [0, 1, 1, 1, 2, 3, 3, 90]


def test_entropy_of_a_uniform_variable_is_close_to_log2_of_its_support():
    values = [secrets.randbelow(8) for _ in range(20_000)]
    assert entropy_bits(values) == pytest.approx(3.0, abs=0.02)


def test_independent_variables_carry_about_no_information():
    xs = [secrets.randbelow(16) for _ in range(5_000)]
    ys = [secrets.randbelow(16) for _ in range(5_000)]
    assert mutual_information_bits(xs, ys) < 0.05


def test_a_function_of_the_secret_carries_its_entropy():
    ys = [secrets.randbelow(16) for _ in range(5_000)]
    assert mutual_information_bits([y // 2 for y in ys], ys) == pytest.approx(3.0, abs=0.05)


def test_a_noisy_magnitude_view_leaks_more_than_a_bit_and_its_shuffle_does_not():
    exponents = [1 + secrets.randbelow(12) for _ in range(6_000)]
    secrets_ = [(1 << e) - 1 for e in exponents]  # magnitude bin e, 12 equally likely
    views = [(1 << e) * ((1 << 18) + secrets.randbelow(3 << 18)) for e in exponents]  # 2 bins
    dependent = estimate_leakage(views, secrets_)
    independent = estimate_leakage(independent_view(views), secrets_)
    assert dependent.mutual_information_bits > 1.0
    assert independent.mutual_information_bits < 0.1
    assert dependent.guess_error_bits < independent.guess_error_bits
    assert dependent.secret_entropy_bits == pytest.approx(math.log2(12), abs=0.05)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 views but 3 secrets"):
        mutual_information_bits([1, 2], [1, 2, 3])


def test_baseline_view_is_what_b_opens_and_tracks_the_distance(system_keys, physician_keys):
    pk, share_a, share_b = system_keys
    keys = BenchKeys(pk.n.bit_length(), pk, share_a, share_b, *physician_keys)
    views, distances = modes.record_baseline_view(keys, 300)
    assert len(views) == len(distances) == 300
    bound = 1 << (DEFAULT_PARAMS.sigma + DEFAULT_PARAMS.diff_bits + 2)
    assert all(0 < abs(v) < bound for v in views)
    # |t| = r1 |2d + 1| + r2 with r1 < 2^sigma: never below |2d+1|, never 2^sigma times above
    assert all(
        abs(2 * d + 1) <= abs(v) < (abs(2 * d + 1) + 1) << DEFAULT_PARAMS.sigma
        for v, d in zip(views, distances)
    )
    assert estimate_leakage(views, distances).mutual_information_bits > 0.3
    assert "baseline" in modes.MODES


def test_b_cannot_read_the_bit_next_to_a_bound(system_keys, physician_keys, monkeypatch):
    """Security round 2, item 2: with r2 drawn from [0, r1), |t| >= r1 exactly when
    v = 2d + 1 > 0, and B's rule |t| > 2^(sigma-1) read the bit at d in {-1, 0} three
    times in four. r2 is symmetric now; the same measure, on the protocol's own a2, says
    a coin. The power check runs it with the old r2 and sees the leak."""
    from bench import modes

    pk, share_a, share_b = system_keys
    keys = BenchKeys(pk.n.bit_length(), pk, share_a, share_b, *physician_keys)
    now = modes.baseline_bit_guess_accuracy(keys, 1500)
    assert 0.44 < now < 0.56  # 1500 trials: 0.5 +- 4.6 standard errors

    def old_blinding(params=cmp.DEFAULT_PARAMS, count=CHECKS_PER_READING):
        r1 = tuple(secrets.randbelow((1 << params.sigma) - 1) + 1 for _ in range(count))
        flips = tuple(secrets.randbelow(2) for _ in range(count))
        return cmp.Blinding(flips, r1, tuple(secrets.randbelow(r) for r in r1))

    monkeypatch.setattr(cmp, "draw_blinding", old_blinding)
    assert modes.baseline_bit_guess_accuracy(keys, 400) > 0.65
