"""The split system key: joint decryption works, one share alone decrypts nothing."""

from __future__ import annotations

import math
import secrets

import gmpy2
import pytest

from protocol.keys import KeyShare, ShareError, combine_partial_decryptions, split_secret
from protocol.paillier import decrypt, encrypt, generate_keypair
from tests.conftest import system_key


def _l(u: int, n: int) -> int:
    return (u - 1) // n


def test_joint_decryption_recovers_every_plaintext(system_keys):
    pk, a, b = system_keys
    for m in (0, 1, 2, 724, pk.n - 1, secrets.randbelow(pk.n)):
        c = encrypt(pk, m)
        assert combine_partial_decryptions(pk, a.partial_decrypt(c), b.partial_decrypt(c)) == m


def test_joint_decryption_at_2048_bits():
    pk, a, b = system_key(2048)
    m = secrets.randbelow(pk.n)
    c = encrypt(pk, m)
    assert combine_partial_decryptions(pk, a.partial_decrypt(c), b.partial_decrypt(c)) == m


def test_both_shares_are_full_size(system_keys):
    pk, a, b = system_keys
    # lambda*N has about 2|N| bits; a uniform share is within a few bits of that.
    for share in (a, b):
        assert share.value.bit_length() > 2 * pk.n.bit_length() - 16


def _what_one_share_can_compute(share: KeyShare, c: int) -> list[int]:
    """Every 'decryption' a holder of one share can try without the other."""
    n, n2 = share.n, share.n * share.n
    other_mod_n = (1 - share.value) % n  # SK1 + SK2 = 1 mod N, so this much is known
    guesses = []
    for exponent in (share.value, other_mod_n, share.value + other_mod_n, n - share.value):
        u = int(gmpy2.powmod(c, exponent, n2))
        guesses.append(_l(u, n) % n)
    return guesses


def test_one_share_and_anything_derivable_from_it_decrypts_nothing(system_keys):
    pk, a, b = system_keys
    for share in (a, b):
        for _ in range(5):
            m = secrets.randbelow(pk.n)
            c = encrypt(pk, m)
            assert m not in _what_one_share_can_compute(share, c)
            # a partial decryption is not of the form 1 + mN either
            assert share.partial_decrypt(c) % pk.n != 1


def test_a_short_share_would_let_the_other_server_decrypt_alone():
    """Why both shares must be full size: SOCI's 128-bit SK1 falls to the holder of SK2."""
    pk, private_key = generate_keypair(512)
    p, q = private_key.p, private_key.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    delta = lam * int(gmpy2.invert(lam, pk.n))
    short_sk1 = secrets.randbits(128)
    sk2 = delta - short_sk1
    recovered_sk1 = (1 - sk2) % pk.n  # what B computes from its own share
    assert recovered_sk1 == short_sk1
    m = 4242
    c = encrypt(pk, m)
    assert _l(int(gmpy2.powmod(c, recovered_sk1 + sk2, pk.nsquare)), pk.n) == m

    # The same attack against our split recovers nothing useful.
    full_a, full_b = split_secret(pk.n, lam)
    guess_a = (1 - full_b.value) % pk.n
    assert guess_a != full_a.value
    assert _l(int(gmpy2.powmod(c, guess_a + full_b.value, pk.nsquare)), pk.n) % pk.n != m
    assert decrypt(private_key, c) == m


def test_shares_of_another_key_do_not_combine(system_keys):
    pk, a, _ = system_keys
    _, _, other_b = system_key(768)
    c = encrypt(pk, 7)
    with pytest.raises(ShareError):
        # B's share of a different key: product is not 1 + mN
        combine_partial_decryptions(pk, a.partial_decrypt(c), pow(c, other_b.value, pk.nsquare))


def test_share_round_trips_through_json_and_hides_its_value_in_repr(system_keys):
    _, a, _ = system_keys
    assert KeyShare.from_json(a.to_json()) == a
    assert hex(a.value)[2:12] not in repr(a)
    with pytest.raises(ShareError, match="not an hrmon key share"):
        KeyShare.from_json({**a.to_json(), "kind": "something-else"})
    with pytest.raises(ShareError, match="malformed"):
        KeyShare.from_json({"kind": "hrmon-key-share", "n": "zz"})
