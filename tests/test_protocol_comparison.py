"""The blinded comparison, run step by step in memory: exact bits, guard bits, leakage shape."""

from __future__ import annotations

import functools
import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import comparison as cmp
from protocol.ciphertext import decode_ciphertext
from protocol.encoding import to_zn
from protocol.modes.baseline import BaselineA, BaselineB
from protocol.modes.memory import answers_in_order, compare_in_memory, jobs_for
from protocol.paillier import NoisePool, decrypt, fresh_noise
from protocol.params import DEFAULT_PARAMS, ComparisonParams
from tests.service_helpers import (
    RHO,
    encrypted_bounds,
    encrypted_reading,
    expected_bit,
    grid_around_bounds,
)

LOW, HIGH, THRESHOLD = 600, 1000, 5000  # 60.0-100.0 bpm, p >= 0.5 abnormal


def encrypt_bounds(pk, low, high, threshold, irregularity_threshold=RHO):
    return encrypted_bounds(pk, (low, high, threshold, irregularity_threshold))


def run_in_memory(system_keys, physician_keys, values, bounds_values, *, ahead=True, scheme="full"):
    """Both halves of the baseline mode for many readings, packed as the servers pack them.

    ``values``: (hr, score) or (hr, score, irregularity); ``bounds_values``: 3 or 4."""
    pk, share_a, share_b = system_keys
    pk_d, sk_d = physician_keys
    bounds = encrypt_bounds(pk, *bounds_values)
    noise = functools.partial(fresh_noise, scheme=scheme)
    mode_a = BaselineA(share_a, noise, pdec_ahead=ahead)
    mode_b = BaselineB(share_b, pk_d.n.bit_length(), noise)
    bits = []
    for start in range(0, len(values), 32):  # a request holds at most 64 packs
        readings = [encrypted_reading(pk, v) for v in values[start : start + 32]]
        jobs = jobs_for(readings, bounds, pk_d)
        outcome, _ = compare_in_memory(mode_a, mode_b, jobs)
        bits += [decrypt(sk_d, decode_ciphertext(pk_d, a)) for a in answers_in_order(outcome, jobs)]
    return bits


@pytest.mark.parametrize(
    ("ahead", "scheme"),
    [(True, "full"), (False, "full"), (True, "djn")],
    ids=["pdec-ahead", "pdec-in-turn", "djn-noise"],
)
def test_exact_bit_over_a_grid_around_every_bound(system_keys, physician_keys, ahead, scheme):
    values = grid_around_bounds(LOW, HIGH, THRESHOLD, RHO)
    bounds = (LOW, HIGH, THRESHOLD, RHO)
    bits = run_in_memory(system_keys, physician_keys, values, bounds, ahead=ahead, scheme=scheme)
    expected = [expected_bit(hr, s, LOW, HIGH, THRESHOLD, q, RHO, m) for hr, s, q, m in values]
    assert bits == expected
    assert set(bits) == {0, 1}


@settings(max_examples=25, deadline=None)
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
    system_keys, physician_keys, hr, score, low, high, threshold, q, rho, m
):
    low, high = sorted((low, high))  # a range: the physician's tools refuse low > high
    hr *= 1 - m  # no heart rate: the device sends 0
    bounds = (low, high, threshold, rho)
    bits = run_in_memory(system_keys, physician_keys, [(hr, score, q, m)], bounds)
    assert bits == [expected_bit(hr, score, low, high, threshold, q, rho, m)]


def test_answer_table_has_one_normal_entry_at_the_flips(physician_keys):
    pk_d, sk_d = physician_keys
    for flips in itertools.product((0, 1), repeat=4):
        table = cmp.a4_answer_table(pk_d, flips, NoisePool(pk_d).take)
        plain = [decrypt(sk_d, c) for c in table]
        c1, c2, c3, c4 = flips
        normal_index = (c1 ^ c2) | (c3 << 1) | (c4 << 2)  # B's row when every check passes
        assert plain == [int(u != normal_index) for u in range(8)]
        assert len(set(table)) == 8  # every entry fresh: B cannot spot the odd one


def test_abnormal_bit_does_not_say_which_check_failed(system_keys, physician_keys):
    too_slow, too_fast, cnn, irregular = (
        (400, 100, 0),
        (1500, 100, 0),
        (800, 9000, 0),
        (800, 100, 4000),
    )
    bits = run_in_memory(
        system_keys, physician_keys, [too_slow, too_fast, cnn, irregular], (LOW, HIGH, THRESHOLD)
    )
    assert bits == [1, 1, 1, 1]


def test_only_the_rhythm_makes_an_in_range_reading_abnormal(system_keys, physician_keys):
    """Same rate, same score: a regular rhythm is normal, an irregular one abnormal, and a
    rhythm not judged (q = 0) never counts as irregular."""
    bits = run_in_memory(
        system_keys,
        physician_keys,
        [(720, 100, 300), (720, 100, 4000), (720, 100, 0), (720, 100, RHO - 1), (720, 100, RHO)],
        (LOW, HIGH, THRESHOLD, RHO),
    )
    assert bits == [0, 1, 0, 0, 1]


def test_b_sees_flipped_signs_that_are_uniform_whatever_the_data(system_keys):
    """u = b xor c: for an always-violating value, B's signs are still ~50/50."""
    pk, share_a, share_b = system_keys
    bounds = encrypt_bounds(pk, LOW, HIGH, THRESHOLD)
    reading = encrypted_reading(pk, (300, 9999, 9999))  # violates 3 of 4
    seen: Counter[int] = Counter()
    for _ in range(200):
        blinding = cmp.draw_blinding()
        slots = cmp.a2_blind(pk, cmp.a1_differences(pk, reading, bounds), blinding)
        pack = cmp.a3_pack(pk, slots, NoisePool(pk).take())
        signs = cmp.b2_read_signs(
            cmp.b1_open_pack(share_b, pk, pack, share_a.partial_decrypt(pack)), 4
        )
        seen.update(signs)
    assert 290 <= seen[1] <= 510  # binomial(800, 1/2): 7+ sigma away otherwise


def _answer_single(system_keys, physician_keys, hr_plaintext, score_plaintext=10, flag=0):
    pk, share_a, share_b = system_keys
    pk_d, _ = physician_keys
    bounds = encrypt_bounds(pk, LOW, HIGH, THRESHOLD)
    reading = encrypted_reading(pk, (hr_plaintext, score_plaintext, 0, flag))
    prepared = cmp.prepare_reading(pk, pk_d, reading, bounds, NoisePool(pk_d).take)
    pack = cmp.a3_pack(pk, prepared.slots, NoisePool(pk).take())
    return cmp.b_answer_pack(
        share_b, pk, pack, share_a.partial_decrypt(pack), [(pk_d, prepared.answer_table)]
    )


@pytest.mark.parametrize("bad", [-(2**50), 2**60, 2**200])
def test_guard_bits_catch_an_out_of_bound_value_from_a_malicious_device(
    system_keys, physician_keys, bad
):
    """The servers cannot see the bound; the slot band catches the value (miss ~2^-33)."""
    pk, _, _ = system_keys
    with pytest.raises(cmp.SlotOutOfBand):
        _answer_single(system_keys, physician_keys, to_zn(bad, pk.n))


@pytest.mark.parametrize("flag", [2**20, 2**200, -(2**20)])
def test_guard_bits_catch_a_crafted_rate_missing_flag(system_keys, physician_keys, flag):
    """m enters only as hr + (2^15 - 1) m in the "too slow" check: a flag other than 0 or 1
    (or 2, which acts as 1) is an out-of-bound value like any other, caught by the band."""
    pk, _, _ = system_keys
    with pytest.raises(cmp.SlotOutOfBand):
        _answer_single(system_keys, physician_keys, 0, flag=to_zn(flag, pk.n))


def test_a_malicious_value_spoils_at_most_its_own_reading(system_keys, physician_keys):
    """Whatever a device encrypts, a pack either fails the band check or every honest
    reading packed beside it gets its exact bit (here: 1/2 mod N, which passes the band
    because 2d + 1 turns it back into a small integer, and garbage, which does not)."""
    pk, share_a, share_b = system_keys
    pk_d, sk_d = physician_keys
    bounds = encrypt_bounds(pk, LOW, HIGH, THRESHOLD)
    honest = [(800, 10), (599, 10)]  # normal, too slow
    for bad in ((pk.n + 1) // 2, pk.n // 3, pk.n - 12345):
        for _ in range(5):
            readings = [(bad, 10), *honest][: cmp.readings_per_pack(pk)]
            prepared = [
                cmp.prepare_reading(
                    pk,
                    pk_d,
                    encrypted_reading(pk, (h, s)),
                    bounds,
                    NoisePool(pk_d).take,
                )
                for h, s in readings
            ]
            pack = cmp.a3_pack(pk, [x for p in prepared for x in p.slots], NoisePool(pk).take())
            try:
                answers = cmp.b_answer_pack(
                    share_b,
                    pk,
                    pack,
                    share_a.partial_decrypt(pack),
                    [(pk_d, p.answer_table) for p in prepared],
                )
            except cmp.SlotOutOfBand:
                continue
            got = [decrypt(sk_d, a) for a in answers[1:]]
            assert got == [expected_bit(h, s, LOW, HIGH, THRESHOLD) for h, s in readings[1:]]


def test_pack_overflow_is_refused(system_keys):
    pk, _, _ = system_keys
    too_many = [1] * (DEFAULT_PARAMS.slots_per_ciphertext(pk.n) + 1)
    with pytest.raises(ValueError, match="do not fit"):
        cmp.a3_pack(pk, too_many, 1)


def test_slot_width_matches_design():
    p = ComparisonParams()
    assert p.slot_bits == p.sigma + p.diff_bits + 4 + p.guard_bits
    assert p.sigma >= 80 and p.guard_bits >= 40
    assert p.slots_per_ciphertext(2**2047) == 14  # 3 readings (4 slots each) at 2048 bits


def test_blinding_repr_hides_the_coins():
    assert "flips" not in repr(cmp.draw_blinding())


def test_a_crafted_score_borrows_from_the_next_slot_so_packs_must_not_mix_patients(
    system_keys, physician_keys
):
    """Why server A packs one patient's readings only: a last-slot value (the rhythm
    index) q = rho - 2^(k-1) makes t4 = -r1 2^k + small, which keeps its own slot in band
    and subtracts A's secret r1 from the next slot, still in band. A victim one step
    inside its range, packed right after the attacker, then gets a wrong bit in about
    half the packs."""
    pk, share_a, share_b = system_keys
    pk_d, sk_d = physician_keys
    bounds = encrypt_bounds(pk, LOW, HIGH, THRESHOLD)
    crafted = to_zn(RHO - (1 << (DEFAULT_PARAMS.slot_bits - 1)), pk.n)
    wrong = 0
    for _ in range(40):
        attacker = encrypted_reading(pk, (800, 10, crafted))
        victim = encrypted_reading(pk, (LOW, 10))  # normal
        prepared = [
            cmp.prepare_reading(pk, pk_d, r, bounds, NoisePool(pk_d).take)
            for r in (attacker, victim)
        ]
        pack = cmp.a3_pack(pk, [s for p in prepared for s in p.slots], NoisePool(pk).take())
        answers = cmp.b_answer_pack(
            share_b,
            pk,
            pack,
            share_a.partial_decrypt(pack),
            [(pk_d, p.answer_table) for p in prepared],
        )
        wrong += decrypt(sk_d, answers[1]) != 0
    assert wrong > 0
