"""Paillier ciphertext arithmetic on raw integers (g = N + 1).

Keys and decryption come from ``phe``; the raw exponentiations go through ``gmpy2``.
Ciphertexts are plain ints so that packing, (de)serialisation and the servers never deal
with phe's ``EncryptedNumber`` and its clear-text exponent.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Literal

import gmpy2
from phe import paillier

from protocol.pool import UseOncePool

PublicKey = paillier.PaillierPublicKey
PrivateKey = paillier.PaillierPrivateKey

NoiseScheme = Literal["full", "djn"]
"""How a party draws the r^N of its encryptions (docs/design.md, "Noise"):

``full``: r uniform in Z*_N, r^N by a |N|-bit exponent; plain Paillier, semantically
secure under the decisional composite residuosity assumption (DCRA) alone.
``djn``: h_N^a with h_N = h^N a fixed public N-th residue and a short uniform a of twice
the key's security level (Damgard, Jurik, Nielsen 2010, section 4.2); about 9x cheaper,
secure under DCRA plus the assumption that such short exponents are indistinguishable
from full ones in <h_N>. Ciphertexts look the same either way: the choice is each
party's own and nothing on the wire reveals it.
"""
NOISE_SCHEMES: tuple[NoiseScheme, ...] = ("full", "djn")


def key_id(public_key: PublicKey) -> str:
    """Short public fingerprint of a key, carried with every ciphertext to catch key mix-ups."""
    n: int = public_key.n
    digest = hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()
    return digest[:16]


def long_powmod(base: int, exponent: int, modulus: int) -> int:
    """base^exponent mod modulus with the GIL released: a partial decryption or a noise
    value takes milliseconds, and another thread (an event loop) must run meanwhile. A
    context per call: gmpy2 contexts cannot be entered by two threads at once."""
    with gmpy2.context(allow_release_gil=True):
        return int(gmpy2.powmod(base, exponent, modulus))


def security_bits(modulus_bits: int) -> int:
    """The symmetric-equivalent strength of an RSA-type modulus (NIST SP 800-57 part 1)."""
    for bits, strength in ((15360, 256), (7680, 192), (3072, 128), (2048, 112)):
        if modulus_bits >= bits:
            return strength
    return 80  # below 2048 bits: test keys only


def djn_exponent_bits(public_key: PublicKey) -> int:
    """|a| for ``djn`` noise: twice the key's security level, so that the best generic
    attack on a short exponent (Pollard's kangaroo, sqrt(2^|a|)) costs as much as
    factoring N."""
    n: int = public_key.n
    return 2 * security_bits(n.bit_length())


@functools.lru_cache(maxsize=256)
def djn_base(n: int) -> int:
    """h_N = (-x^2)^N mod N^2, with x derived from N by SHAKE-256: a fixed N-th residue
    of the key that any party computes alike and whose discrete log nobody knows."""
    width = (n.bit_length() + 7) // 8
    counter = 0
    while True:
        seed = b"hrmon djn base v1" + n.to_bytes(width, "big") + counter.to_bytes(4, "big")
        x = int.from_bytes(hashlib.shake_256(seed).digest(width + 16), "big") % n
        if x > 1 and gmpy2.gcd(x, n) == 1:
            h = (-x * x) % n
            return int(gmpy2.powmod(h, n, n * n))
        counter += 1


DJN_WINDOW_BITS = 6
"""Fixed-base window of the ``djn`` tables: 38 multiplications per r^N at 2048 bits
instead of a 224-bit exponentiation (5.6x faster), 1.2 MB of table per key."""


@functools.lru_cache(maxsize=16)
def _djn_table(n: int, exponent_bits: int) -> tuple[tuple[gmpy2.mpz, ...], ...]:
    """table[i][d] = h_N^(d * 2^(w i)) mod N^2: the fixed-base powers of :func:`djn_base`,
    made once per key (about 25 ms at 2048 bits)."""
    n2 = gmpy2.mpz(n) * n
    base = gmpy2.mpz(djn_base(n))
    rows = []
    for _ in range(-(-exponent_bits // DJN_WINDOW_BITS)):
        row = [gmpy2.mpz(1)]
        for _ in range((1 << DJN_WINDOW_BITS) - 1):
            row.append(row[-1] * base % n2)
        rows.append(tuple(row))
        base = row[-1] * base % n2
    return tuple(rows)


def _djn_noise(public_key: PublicKey) -> int:
    """h_N^a for a uniform a of :func:`djn_exponent_bits`, by the fixed-base table."""
    n: int = public_key.n
    bits = djn_exponent_bits(public_key)
    table = _djn_table(n, bits)
    n2 = gmpy2.mpz(public_key.nsquare)
    exponent = secrets.randbits(bits)
    mask = (1 << DJN_WINDOW_BITS) - 1
    result = gmpy2.mpz(1)
    for row in table:  # the same 38 multiplications whatever the exponent's digits
        result = result * row[exponent & mask] % n2
        exponent >>= DJN_WINDOW_BITS
    return int(result)


def fresh_noise(public_key: PublicKey, scheme: NoiseScheme = "full") -> int:
    """The randomness of one encryption, an N-th residue mod N^2 drawn by ``scheme``."""
    n: int = public_key.n
    if scheme == "djn":
        return _djn_noise(public_key)
    while True:
        r = secrets.randbelow(n - 1) + 1
        if gmpy2.gcd(r, n) == 1:
            return long_powmod(r, n, public_key.nsquare)


class NoisePool(UseOncePool):
    """Precomputed r^N values under one key, drawn by ``scheme``; each is handed out
    once, and an empty pool computes one on demand (``protocol.pool.UseOncePool``)."""

    def __init__(
        self, public_key: PublicKey, target: int = 64, scheme: NoiseScheme = "full"
    ) -> None:
        super().__init__(functools.partial(_fresh_noises, public_key, scheme), target)
        self.public_key = public_key
        self.scheme: NoiseScheme = scheme


def _fresh_noises(public_key: PublicKey, scheme: NoiseScheme, count: int) -> list[int]:
    return [fresh_noise(public_key, scheme) for _ in range(count)]


def encrypt(public_key: PublicKey, plaintext: int, noise: int | None = None) -> int:
    """E(m) = (1 + mN) * r^N mod N^2, for m in Z_N (use ``encoding.to_zn`` for signed values).

    Args:
        public_key: the key to encrypt under.
        plaintext: m with 0 <= m < N.
        noise: a never-used r^N from :class:`NoisePool`; fresh randomness if None.

    Raises:
        ValueError: m is not in Z_N.
    """
    n: int = public_key.n
    if not 0 <= plaintext < n:
        raise ValueError("plaintext is not in Z_N")
    if noise is None:
        noise = fresh_noise(public_key)
    return (1 + plaintext * n) * noise % public_key.nsquare


def unsafe_encrypt_without_noise(public_key: PublicKey, plaintext: int) -> int:
    """Deterministic (1 + mN) mod N^2: only for a term that is re-randomised before it leaves."""
    return (1 + (plaintext % public_key.n) * public_key.n) % public_key.nsquare


def add(public_key: PublicKey, *ciphertexts: int) -> int:
    """E(a) * E(b) * ... = E(a + b + ...)."""
    result = 1
    for c in ciphertexts:
        result = result * c % public_key.nsquare
    return result


def scalar_mul(public_key: PublicKey, ciphertext: int, scalar: int) -> int:
    """E(m)^k = E(k m); a negative k inverts the ciphertext."""
    return int(gmpy2.powmod(ciphertext, scalar, public_key.nsquare))


def rerandomise(public_key: PublicKey, ciphertext: int, noise: int | None = None) -> int:
    """Same plaintext, fresh randomness: unlinkable to the input ciphertext."""
    if noise is None:
        noise = fresh_noise(public_key)
    return ciphertext * noise % public_key.nsquare


def decrypt(private_key: PrivateKey, ciphertext: int) -> int:
    """Plaintext in Z_N, by phe's CRT decryption."""
    result: int = private_key.raw_decrypt(ciphertext)
    return result


def decrypt_small(private_key: PrivateKey, ciphertext: int) -> int:
    """m mod p, the smaller prime: the plaintext itself when it is known to lie below p
    (a result bit, a tally). Half of phe's CRT decryption, so half its cost.

    A ciphertext of any m >= p still decrypts to something, m mod p, so a caller that
    expects, say, 0 or 1 must check the value as it does with :func:`decrypt`. Only a
    party that knows p could make an m outside the expected range that lands inside
    it here: m = 1 + k p would give p = gcd(m - 1, N), i.e. factor N
    (docs/design.md, "The physician's decryption").
    """
    p = private_key.p
    unit = gmpy2.powmod(ciphertext, p - 1, private_key.psquare)
    return int((unit - 1) // p * private_key.hp % p)


def generate_keypair(bits: int) -> tuple[PublicKey, PrivateKey]:
    """An ordinary Paillier key pair (the physician's), via phe."""
    public_key, private_key = paillier.generate_paillier_keypair(n_length=bits)
    return public_key, private_key
