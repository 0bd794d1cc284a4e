"""DGK on raw integers: key structure, homomorphism, zero test, codecs, TNO interoperability."""

from __future__ import annotations

import functools

import gmpy2
import pytest

from bench.zero_leakage import dgk_key_for
from protocol import dgk
from protocol.pool import UseOncePool


@pytest.fixture(scope="module")
def dgk_key() -> dgk.DgkSecretKey:
    return dgk_key_for(1024)


def test_key_has_the_published_structure(dgk_key):
    pk, p, q = dgk_key.public, dgk_key.p, dgk_key.q
    assert p * q == pk.n and pk.n.bit_length() == 1024
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q) and gmpy2.is_prime(pk.u)
    assert dgk_key.v_p.bit_length() == dgk_key.v_q.bit_length() == pk.t
    assert (p - 1) % (pk.u * dgk_key.v_p) == 0 and (q - 1) % (pk.u * dgk_key.v_q) == 0
    assert (q - 1) % dgk_key.v_p and (p - 1) % dgk_key.v_q
    # h has order v_p v_q; g has order u v_p v_q (nothing smaller kills it)
    order_h = dgk_key.v_p * dgk_key.v_q
    assert gmpy2.powmod(pk.h, order_h, pk.n) == 1
    assert gmpy2.powmod(pk.h, dgk_key.v_p, pk.n) != 1
    assert gmpy2.powmod(pk.g, order_h, pk.n) != 1
    assert gmpy2.powmod(pk.g, pk.u * order_h, pk.n) == 1


def test_encryption_is_additively_homomorphic_and_randomised(dgk_key):
    pk = dgk_key.public
    a, b, again = dgk.encrypt_many(pk, [1234, 40000, 1234])
    assert a != again
    assert dgk.decrypt(dgk_key, a * b % pk.n) == (1234 + 40000) % pk.u
    assert dgk.decrypt(dgk_key, int(gmpy2.invert(a, pk.n))) == pk.u - 1234
    assert dgk.decrypt(dgk_key, int(gmpy2.powmod(a, 3, pk.n))) == 3 * 1234 % pk.u


def test_zero_test_matches_decryption(dgk_key):
    pk = dgk_key.public
    plain = [0, 1, 0, pk.u - 1, 2, 0]
    cts = dgk.encrypt_many(pk, plain)
    assert dgk.zero_flags(dgk_key, cts) == [m == 0 for m in plain]
    assert dgk.zero_flags(dgk_key, dgk.encrypt_bits(pk, [1, 0])) == [False, True]


def test_key_holder_encryption_decrypts_the_same_and_is_randomised(dgk_key):
    bits = [0, 1, 1, 0, 1]
    made = dgk.encrypt_bits_as_key_holder(dgk_key, bits)
    again = dgk.encrypt_bits_as_key_holder(dgk_key, bits)
    assert [dgk.decrypt(dgk_key, c) for c in made] == bits
    assert dgk.zero_flags(dgk_key, made) == [b == 0 for b in bits]
    assert not set(made) & set(again)
    pk = dgk_key.public
    # the randomiser lies in <h>: its order divides v_p v_q
    noise = made[0]  # an encryption of 0 is h^r
    assert gmpy2.powmod(noise, dgk_key.v_p * dgk_key.v_q, pk.n) == 1
    with pytest.raises(ValueError, match="not a bit"):
        dgk.encrypt_bits_as_key_holder(dgk_key, [2])


def test_factor_pool_hands_each_randomiser_out_once_then_makes_fresh_ones(dgk_key):
    pk = dgk_key.public
    for make in (dgk.random_factors, dgk.key_holder_factors):
        source = pk if make is dgk.random_factors else dgk_key
        pool = UseOncePool(functools.partial(make, source), target=6)
        assert pool.fill() == 6 and len(pool) == 6 and pool.fill() == 0
        taken = pool.take_many(4) + pool.take_many(4)  # two from the pool, two made on demand
        assert len(pool) == 0 and len(taken) == 8 and len(set(taken)) == 8
        for r in taken:  # each lies in <h>, so it re-randomises without changing a plaintext
            assert gmpy2.powmod(r, dgk_key.v_p * dgk_key.v_q, pk.n) == 1 and r not in (0, 1)
        assert pool.take_many(0) == []
    # B's pooled randomisers make bit encryptions that decrypt as before
    pool = UseOncePool(functools.partial(dgk.key_holder_factors, dgk_key), target=3)
    pool.fill()
    bits = [1, 0, 1, 1]
    made = dgk.encrypt_bits_as_key_holder(dgk_key, bits, pool.take_many)
    assert [dgk.decrypt(dgk_key, c) for c in made] == bits


@pytest.mark.parametrize("bad", [[2], [-1]])
def test_only_bits_are_encrypted_as_bits(dgk_key, bad):
    with pytest.raises(ValueError, match="not a bit"):
        dgk.encrypt_bits(dgk_key.public, bad)


def test_plaintext_outside_z_u_is_refused(dgk_key):
    with pytest.raises(ValueError, match="Z_u"):
        dgk.encrypt_many(dgk_key.public, [dgk_key.public.u])


def test_keys_round_trip_and_a_mismatched_secret_is_refused(dgk_key):
    assert dgk.DgkSecretKey.from_json(dgk_key.to_json()) == dgk_key
    assert dgk.DgkPublicKey.from_json(dgk_key.public.to_json()) == dgk_key.public
    doc = dgk_key.to_json()
    doc["v_p"] = hex(dgk_key.v_q)
    with pytest.raises(dgk.DgkError, match="does not match"):
        dgk.DgkSecretKey.from_json(doc)
    with pytest.raises(dgk.DgkError, match="not an hrmon DGK"):
        dgk.DgkPublicKey.from_json({"kind": "hrmon-key-share"})
    with pytest.raises(dgk.DgkError, match="missing or invalid"):
        dgk.DgkSecretKey.from_json({"kind": "hrmon-dgk-secret"})


def test_secret_key_repr_hides_the_secret(dgk_key):
    text = repr(dgk_key)
    assert hex(dgk_key.p) not in text and str(dgk_key.p) not in text


def test_ciphertext_codec_is_fixed_length_and_validated(dgk_key):
    pk = dgk_key.public
    c = dgk.encrypt_bits(pk, [1])[0]
    text = dgk.encode_ciphertext(pk, c)
    assert len(text) == len(dgk.encode_ciphertext(pk, 1))
    assert dgk.decode_ciphertext(pk, text) == c
    with pytest.raises(dgk.DgkError, match="terms: not valid base64"):
        dgk.decode_ciphertext(pk, "%%%", "terms")
    with pytest.raises(dgk.DgkError, match="bytes, expected"):
        dgk.decode_ciphertext(pk, "AAAA")
    with pytest.raises(dgk.DgkError, match="Z\\*_n"):
        dgk.decode_ciphertext(pk, dgk.encode_ciphertext(pk, dgk_key.p))


def test_interoperates_with_tno_dgk(dgk_key):
    """TNO's DGK (the peer's) decrypts our ciphertexts and we zero-test theirs."""
    tno = pytest.importorskip("tno.mpc.encryption_schemes.dgk")
    pk = dgk_key.public
    scheme = tno.DGK(
        tno.DGKPublicKey(g=pk.g, h=pk.h, u=pk.u, n=pk.n, t=pk.t),
        tno.DGKSecretKey(v_p=dgk_key.v_p, v_q=dgk_key.v_q, p=dgk_key.p, q=dgk_key.q),
    )
    ours = dgk.encrypt_many(pk, [0, 7, 123])
    decrypted = [scheme.decrypt(tno.DGKCiphertext(c, scheme), apply_encoding=False) for c in ours]
    assert decrypted == [0, 7, 123]
    theirs = [scheme.encrypt(m).get_value() for m in (0, 5)]
    assert dgk.zero_flags(dgk_key, theirs) == [True, False]
    scheme.shut_down()


def test_small_or_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="odd prime"):
        dgk.generate_dgk_keypair(1024, 160, u=65536)
    with pytest.raises(ValueError, match="too small"):
        dgk.generate_dgk_keypair(512, 224)
