"""The zero-leakage comparison run step by step in memory: exact bits, guard bits, B's view."""

from __future__ import annotations

import functools
import secrets
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.leakage import estimate_leakage, independent_view, mutual_information_bits
from bench.zero_leakage import dgk_key_for, run_zero_leakage_checks_in_memory
from protocol import comparison as cmp
from protocol import dgk
from protocol import zero_leakage as zl
from protocol.encoding import to_zn
from protocol.keys import combine_partial_decryptions
from protocol.modes.zero_leakage import TERMS_PER_READING
from protocol.paillier import decrypt, encrypt, fresh_noise, unsafe_encrypt_without_noise
from protocol.pool import UseOncePool
from tests.service_helpers import (
    RHO,
    encrypted_bounds,
    encrypted_reading,
    expected_bit,
    grid_around_bounds,
)

LOW, HIGH, THRESHOLD = 600, 1000, 5000  # 60.0-100.0 bpm, p >= 0.5 abnormal


@pytest.fixture(scope="module")
def dgk_key():
    return dgk_key_for(1024)


def run(system_keys, physician_keys, dgk_key, values, bounds_values, **options):
    pk = system_keys[0]
    pk_d, sk_d = physician_keys
    bounds = encrypted_bounds(pk, bounds_values)
    bits = []
    for start in range(0, len(values), 32):  # a request holds at most 64 packs
        readings = [encrypted_reading(pk, v) for v in values[start : start + 32]]
        result = run_zero_leakage_checks_in_memory(
            system_keys, dgk_key, pk_d, readings, bounds, **options
        )
        bits += [None if a is None else decrypt(sk_d, a) for a in result.answers]
    return bits


@pytest.mark.parametrize(
    ("ahead", "scheme", "pooled"),
    [(True, "full", False), (False, "full", False), (True, "djn", False), (True, "full", True)],
    ids=["pdec-ahead", "pdec-in-turn", "djn-noise", "dgk-factor-pool"],
)
def test_exact_bit_over_a_grid_around_every_bound(
    system_keys, physician_keys, dgk_key, ahead, scheme, pooled
):
    values = grid_around_bounds(LOW, HIGH, THRESHOLD, RHO)
    noise = functools.partial(fresh_noise, scheme=scheme)
    bounds = (LOW, HIGH, THRESHOLD, RHO)
    options = {}
    if pooled:  # as the servers run it: DGK re-randomisers from pools filled part-way
        for party, make in (
            ("a", functools.partial(dgk.random_factors, dgk_key.public)),
            ("b", functools.partial(dgk.key_holder_factors, dgk_key)),
        ):
            pool = UseOncePool(make, 0)
            pool.fill(len(values) * TERMS_PER_READING // 2)
            options[f"{party}_factors"] = pool.take_many
    bits = run(
        system_keys, physician_keys, dgk_key, values, bounds,
        noise=noise, pdec_ahead=ahead, **options,
    )  # fmt: skip
    assert bits == [expected_bit(hr, s, LOW, HIGH, THRESHOLD, q, RHO, m) for hr, s, q, m in values]
    assert set(bits) == {0, 1}


@settings(max_examples=20, deadline=None)
@given(
    hr=st.integers(0, 2**15 - 1),
    score=st.integers(0, 2**15 - 1),
    low=st.integers(0, 2**15 - 1),
    high=st.integers(0, 2**15 - 1),
    threshold=st.integers(0, 2**15 - 1),
    q=st.integers(0, 2**15 - 1),
    rho=st.integers(0, 2**15 - 1),
    m=st.integers(0, 1),
)
def test_bit_is_right_for_any_in_bound_values(
    system_keys, physician_keys, dgk_key, hr, score, low, high, threshold, q, rho, m
):
    low, high = sorted((low, high))  # a range: the physician's tools refuse low > high
    hr *= 1 - m  # no heart rate: the device sends 0
    bounds = (low, high, threshold, rho)
    bits = run(system_keys, physician_keys, dgk_key, [(hr, score, q, m)], bounds)
    assert bits == [expected_bit(hr, score, low, high, threshold, q, rho, m)]


def _shares_in_plain(dgk_key, differences, masks, params):
    """B's share u of each check, with z formed in the clear (no Paillier): DGK steps only."""
    masked = [d + (1 << params.compare_bits) + r for d, r in zip(differences, masks.masks)]
    bits = zl.b2_encrypt_bits(dgk_key, masked, params)
    terms = zl.a3_bitwise_terms(dgk_key.public, bits, masks, params)
    return zl.b3_zero_test(dgk_key, terms, params)


def test_bitwise_comparison_is_exact_for_every_difference_and_edge_mask(dgk_key):
    """l = 4: every d in [-16, 16) against masks whose alpha is 0, all ones, equal to
    beta's edges, and the extremes of R, with both of A's flips."""
    params = zl.ZeroLeakageParams(value_bits=4, kappa=6, guard_bits=4)
    top = (1 << params.mask_bits) - 1
    edge_masks = [0, 1, 15, 16, 31, top, top - 15, top - 16, 0b1010_0101_0110]
    cases = [(d, r, flip) for d in range(-16, 16) for r in edge_masks for flip in (0, 1)]
    masks = zl.Masks(tuple(r for _, r, _ in cases), tuple(f for _, _, f in cases))
    differences = [d for d, _, _ in cases]
    shares = _shares_in_plain(dgk_key, differences, masks, params)
    flips = zl.answer_flips(masks, params)
    assert [u ^ c for u, c in zip(shares, flips)] == [int(d >= 0) for d in differences]


def test_abnormal_bit_does_not_say_which_check_failed(system_keys, physician_keys, dgk_key):
    too_slow, too_fast, cnn, normal = (400, 100), (1500, 100), (800, 9000), (800, 100)
    irregular, not_judged = (800, 100, 4000), (800, 100, 0)
    bits = run(
        system_keys,
        physician_keys,
        dgk_key,
        [too_slow, too_fast, cnn, normal, irregular, not_judged],
        (LOW, HIGH, THRESHOLD, RHO),
    )
    assert bits == [1, 1, 1, 0, 1, 0]


@pytest.mark.parametrize("bad", [-(2**80), 2**60, 2**400, 2**1000])
def test_guard_bits_catch_a_value_beyond_the_mask_range(system_keys, bad):
    """A value whose difference exceeds the mask's range (|d| >~ 2^(l+1+kappa)) sets guard
    bits or bits above the last slot: B refuses the pack."""
    pk, share_a, share_b = system_keys
    bounds = encrypted_bounds(pk, (LOW, HIGH, THRESHOLD))
    reading = encrypted_reading(pk, (to_zn(bad, pk.n), 10))
    differences = list(cmp.a1_differences(pk, reading, bounds))
    masks = zl.draw_masks(len(differences))
    pack = zl.a2_mask_and_pack(pk, differences, masks, 1)
    with pytest.raises(zl.SlotOutOfBand):
        zl.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack), len(differences))


def test_garbage_alone_in_its_pack_gets_no_bit(system_keys, physician_keys, dgk_key):
    """The runner re-runs a refused pack reading by reading; the garbage reading, alone,
    is refused again and gets None; the honest readings of the batch get their bits."""
    pk = system_keys[0]
    honest = [(800, 10), (599, 10)]
    for garbage in (pk.n // 3, secrets.randbelow(pk.n)):
        values = [honest[0], (garbage, 10), honest[1]]
        bits = run(system_keys, physician_keys, dgk_key, values, (LOW, HIGH, THRESHOLD))
        assert bits[1] is None
        assert [bits[0], bits[2]] == [expected_bit(*v, LOW, HIGH, THRESHOLD) for v in honest]


def test_out_of_bound_value_within_the_mask_range_stays_in_its_slots(
    system_keys, physician_keys, dgk_key
):
    """|d| up to ~2^56 is hidden by the mask like any value, so B cannot see it: that
    reading gets a bit of no meaning, but its slots do not overflow, so every other
    reading in the pack gets its exact bit."""
    honest = [(800, 10), (599, 10), (1001, 10), (800, 5000), (600, 4999)]
    for bad in (2**40, 2**55):
        values = [honest[0], (bad, 10), *honest[1:]]
        bits = run(system_keys, physician_keys, dgk_key, values, (LOW, HIGH, THRESHOLD))
        assert bits[1] in (0, 1, None)  # refused when d + R wraps below 0
        assert [bits[0], *bits[2:]] == [expected_bit(*v, LOW, HIGH, THRESHOLD) for v in honest]


def test_a_crafted_value_can_carry_into_the_next_slot(system_keys):
    """Why a pack holds one patient's readings only (docs/zero-leakage.md): hr = 2^295 + c
    leaves its own slots looking honest and adds a carry to the slot above, which B cannot
    tell from an honest value. Packed beside another patient's reading, that would be
    someone else's z."""
    pk, share_a, share_b = system_keys
    bounds = encrypted_bounds(pk, (LOW, HIGH, THRESHOLD))
    crafted = encrypted_reading(pk, (2**295 + 7, 10))
    victim = encrypted_reading(pk, (800, 10))
    differences = [
        *cmp.a1_differences(pk, crafted, bounds),
        *cmp.a1_differences(pk, victim, bounds),
    ]
    masks = zl.draw_masks(len(differences))
    pack = zl.a2_mask_and_pack(pk, differences, masks, 1)
    zs = zl.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack), len(differences))
    honest_z = LOW - 800 - 1 + 2**15 + masks.masks[4]
    assert zs[4] != honest_z  # the victim's first check was shifted, undetected


def test_pack_overflow_and_count_mismatches_are_refused(system_keys, dgk_key):
    pk = system_keys[0]
    too_many = zl.DEFAULT_ZL_PARAMS.slots_per_ciphertext(pk.n) + 1
    with pytest.raises(ValueError, match="do not fit"):
        zl.a2_mask_and_pack(pk, [1] * too_many, zl.draw_masks(too_many), 1)
    with pytest.raises(ValueError, match="one mask per difference"):
        zl.a2_mask_and_pack(pk, [1, 1], zl.draw_masks(3), 1)
    with pytest.raises(ValueError, match="per check"):
        zl.a3_bitwise_terms(dgk_key.public, [1] * 5, zl.draw_masks(1))
    with pytest.raises(ValueError, match="per check"):
        zl.b3_zero_test(dgk_key, [1] * 5)
    with pytest.raises(ValueError, match="4 shares"):
        zl.b4_pick_answers([], [0, 1, 0])


def test_slot_layout_matches_the_design():
    p = zl.ZeroLeakageParams()
    assert p.mask_bits == p.value_bits + 1 + p.kappa and p.kappa >= 40
    assert p.slot_bits == p.value_bits + 2 + p.kappa + p.guard_bits
    assert p.slots_per_ciphertext(2**2047) == 21  # 5 readings (4 checks each) at 2048 bits
    assert "masks" not in repr(zl.draw_masks(3)).replace("secret masks", "")


# B's view ----------------------------------------------------------------------------


def _b_view(system_keys, dgk_key, hr: int, score: int, readings: int, q: int = 0):
    """Real a1, a2, joint decryption, b2, a3, b3 for ``readings`` copies of one reading:
    what B sees per check (z and u). Inputs encrypted without noise: B's opened values do
    not depend on it, and it keeps many trials affordable."""
    pk, share_a, share_b = system_keys
    bounds = cmp.EncryptedBounds(
        *(unsafe_encrypt_without_noise(pk, v) for v in (LOW, HIGH, THRESHOLD, RHO))
    )
    reading = cmp.EncryptedReading(
        *(unsafe_encrypt_without_noise(pk, v) for v in (hr, score, q, 0))
    )
    per_pack = zl.readings_per_pack(pk)
    masked, shares = [], []
    for start in range(0, readings, per_pack):
        count = min(per_pack, readings - start)
        differences = [d for _ in range(count) for d in cmp.a1_differences(pk, reading, bounds)]
        masks = zl.draw_masks(len(differences))
        pack = zl.a2_mask_and_pack(pk, differences, masks, 1)
        zs = zl.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack), len(differences))
        bits = zl.b2_encrypt_bits(dgk_key, zs)
        terms = zl.a3_bitwise_terms(dgk_key.public, bits, masks)
        masked.extend(zs)
        shares.extend(zl.b3_zero_test(dgk_key, terms))
    return masked, shares


def _features(z: int) -> tuple[int, int, int]:
    """What a curious B could look at: order of magnitude, top and bottom bits of z."""
    p = zl.DEFAULT_ZL_PARAMS
    return (z.bit_length(), z >> (p.mask_bits - 3), z & 0b111)


def test_b_view_is_independent_of_the_data(system_keys, dgk_key):
    """Two extreme data sets (every check violated far away vs. none violated, right at
    the bounds): B's shares are fair coins in both, and no feature of z tells them apart
    (plug-in mutual information ~ 0). The same estimator on the baseline's view finds
    the distance's order of magnitude, so the check has the power to fail."""
    trials = 120  # readings per data set, 4 checks each
    far = _b_view(system_keys, dgk_key, 20, 9999, trials, 9999)  # d ~ +580, -1000, +4999, +8499
    near = _b_view(system_keys, dgk_key, LOW, THRESHOLD - 1, trials, RHO - 1)  # -1, -401, -1, -1
    for _, shares in (far, near):
        ones = Counter(shares)[1]
        assert 4 * trials / 2 - 70 <= ones <= 4 * trials / 2 + 70  # > 6 sigma otherwise
    labels = [0] * (4 * trials) + [1] * (4 * trials)
    views = far[0] + near[0]
    shares = far[1] + near[1]
    for feature in range(3):
        column = [_features(z)[feature] for z in views]
        assert mutual_information_bits(column, labels) < 0.03
    assert mutual_information_bits(shares, labels) < 0.03

    # the zero-leakage view through the bench's estimator: no information about |d|
    distances = [
        d
        for hr, s, q in ((20, 9999, 9999), (LOW, THRESHOLD - 1, RHO - 1))
        for d in (LOW - hr - 1, hr - HIGH - 1, s - THRESHOLD, q - RHO)
        for _ in range(trials)
    ]
    by_check = [far[0][i::4] for i in range(4)] + [near[0][i::4] for i in range(4)]
    centred = [z - (1 << zl.DEFAULT_ZL_PARAMS.mask_bits) for group in by_check for z in group]
    assert estimate_leakage(centred, distances).mutual_information_bits < 0.05

    # power check: a baseline-style view r1 |2d + 1| of the same distances is caught
    baseline = [(secrets.randbelow(2**80 - 1) + 1) * (2 * d + 1) for d in distances]
    assert estimate_leakage(baseline, distances).mutual_information_bits > 0.5


def test_b_view_z_is_uniform_around_the_mask_whatever_d(system_keys, dgk_key):
    """z - 2^l - d is the mask R: its top 3 bits are uniform over 8 values for both data
    sets (chi-square with 7 degrees of freedom under 24.3, p = 0.001)."""
    pk = system_keys[0]
    for hr in (20, LOW):
        zs, _ = _b_view(system_keys, dgk_key, hr, 10, 80)
        top = Counter(z >> (zl.DEFAULT_ZL_PARAMS.mask_bits - 3) for z in zs)
        expected = len(zs) / 8
        chi2 = sum((top.get(b, 0) - expected) ** 2 / expected for b in range(8))
        assert chi2 < 24.3, (hr, dict(top))
    assert pk.n > 0


def test_opened_pack_is_the_masked_differences(system_keys):
    """b1 returns exactly z_j = d_j + 2^l + R_j, slot by slot."""
    pk, share_a, share_b = system_keys
    differences = [-(2**15), -1, 0, 2**15 - 1]
    masks = zl.draw_masks(len(differences))
    pack = zl.a2_mask_and_pack(pk, [encrypt(pk, to_zn(d, pk.n)) for d in differences], masks, 1)
    zs = zl.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack), len(differences))
    assert zs == [d + 2**15 + r for d, r in zip(differences, masks.masks)]
    whole = combine_partial_decryptions(
        pk, share_a.partial_decrypt(pack), share_b.partial_decrypt(pack)
    )
    assert whole >> (zl.DEFAULT_ZL_PARAMS.slot_bits * len(differences)) == 0


def test_bench_records_b_view_with_no_leakage_next_to_the_baseline(system_keys, physician_keys):
    from bench import modes
    from bench.keys import BenchKeys

    keys = BenchKeys(1024, *system_keys, *physician_keys)
    mode = modes.MODES["zero_leakage"]
    views, distances = mode.record_view(keys, 600)
    assert len(views) == len(distances) == 600
    base_views, base_distances = modes.MODES["baseline"].record_view(keys, 600)
    zero = estimate_leakage(views, distances).mutual_information_bits
    shuffled = estimate_leakage(independent_view(views), distances).mutual_information_bits
    baseline = estimate_leakage(base_views, base_distances).mutual_information_bits
    # the plug-in estimate's own bias at 600 trials is ~0.03-0.08 bits (the shuffled view)
    assert zero < shuffled + 0.1 and zero < 0.15
    assert baseline > 0.5


def test_the_threshold_probe_moves_the_refusal_rate_by_two_to_the_minus_56_per_unit(
    system_keys,
):
    """Security round 2, item 1, measured: a device that sends s = 2^56 + c and could see
    whether B refuses its pack learns about tau only through P(refused) = (s - tau + 2^l
    - 2^56) / 2^56, a slope of 2^-56 per unit (docs/design.md). Two points of that line,
    each from real packs opened with both shares: moving s by 2^54 moves the rate by 1/4,
    so moving tau by 8,000 (1000 against 9000) moves it by 8,000 / 2^56 ~ 1e-13. (The
    device sees no status at all since round 2; this bounds what it would have seen.)"""
    pk, share_a, share_b = system_keys
    threshold = 1000
    bounds = encrypted_bounds(pk, (LOW, HIGH, threshold))
    params = zl.DEFAULT_ZL_PARAMS
    assert params.honest_bits == 57  # l = 15, kappa = 40: the 2^56 of the docstring

    def refused_share(score: int, trials: int = 240) -> float:
        reading = encrypted_reading(pk, (800, score))
        differences = list(cmp.a1_differences(pk, reading, bounds))
        refused = 0
        for _ in range(trials):
            masks = zl.draw_masks(len(differences))
            pack = zl.a2_mask_and_pack(pk, differences, masks, 1)
            try:
                zl.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack), len(differences))
            except zl.SlotOutOfBand:
                refused += 1
        return refused / trials

    def predicted(score: int) -> float:
        return (score - threshold + 2**15 - 2**56) / 2**56

    near, far = 2**56 + 2**54 + threshold - 2**15, 2**56 + 2**55 + threshold - 2**15
    assert (predicted(near), predicted(far)) == (0.25, 0.5)
    measured_near, measured_far = refused_share(near), refused_share(far)
    # 240 trials: standard error <= 0.033; 4 of them either side
    assert abs(measured_near - 0.25) < 0.13
    assert abs(measured_far - 0.5) < 0.13
    slope = (measured_far - measured_near) / (far - near)
    assert 0.4 * 2**-56 < slope < 1.6 * 2**-56
