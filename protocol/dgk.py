"""DGK encryption (Damgard, Geisler, Kroigaard 2007/2009) on raw integers, for bitwise comparison.

Key shape as in the DGK papers and TNO's ``tno.mpc.encryption_schemes.dgk`` (Apache-2.0),
against which a test checks interoperability: ``n = p q`` with ``u v_p | p - 1`` and
``u v_q | q - 1`` (u a small prime plaintext modulus, v_p, v_q t-bit primes); ``g`` of order
``u v_p v_q`` and ``h`` of order ``v_p v_q``. ``E(m) = g^m h^r mod n`` with r of 2.5t bits.
The zero test needs only ``p`` and ``v_p``: ``E(m)^{v_p} mod p = (g^{v_p})^m``, which is 1
exactly when ``m = 0 mod u`` (``h^{v_p} = 1 mod p``; ``g^{v_p} mod p`` has order u).

Written here rather than driven through TNO's scheme objects because the comparison needs
hundreds of these operations per batch: they run on plain ints, with a fixed-base table for
``h`` (about 6x faster than a plain ``powmod``) and ``gmpy2``'s list exponentiation.

About 400 lines: key generation, encryption (with the fixed-base tables that make it
affordable), zero tests and encoding of one cryptosystem; python-paillier has no DGK and
the TNO package's is too slow for the bench (docs/zero-leakage.md).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2

DGK_MODULUS_BITS = 2048
"""|n|, matched to the system Paillier key (about 112-bit security, NIST SP 800-57)."""

DGK_SUBGROUP_BITS = 224
"""t = |v_p| = |v_q|: 224-bit subgroups go with a 2048-bit modulus (as DSA's (2048, 224) in
FIPS 186-4). TNO and the 2007 paper use 160, which matched 1024-bit moduli."""

DGK_PLAINTEXT_PRIME = 65537
"""u: the bitwise comparison's terms lie in [-2, 3l + 2], so any prime above 3l + 4 works;
65537 serves every bound up to l = 21000 and costs a 17-bit blinding exponent."""

_WINDOW_BITS = 8  # fixed-base table: one row of 256 powers per exponent byte


class DgkError(ValueError):
    """A DGK key or ciphertext is malformed or belongs to another key."""


@dataclass(frozen=True)
class DgkPublicKey:
    """Public DGK key: modulus n, generators g (order u v_p v_q) and h (order v_p v_q)."""

    n: int
    g: int
    h: int
    u: int
    t: int

    @property
    def key_id(self) -> str:
        """Short public fingerprint, carried with DGK ciphertexts to catch key mix-ups."""
        material = b"|".join(str(v).encode() for v in (self.n, self.g, self.h, self.u, self.t))
        return hashlib.sha256(material).hexdigest()[:16]

    @property
    def randomness_bytes(self) -> int:
        """Bytes of the exponent r in h^r: 2.5t bits, rounded up (DGK 2007, section 3)."""
        return (5 * self.t // 2 + 7) // 8

    def to_json(self) -> dict[str, Any]:
        """For ``dgk_public.json``; integers in hex."""
        return {
            "kind": "hrmon-dgk-public",
            "n": hex(self.n),
            "g": hex(self.g),
            "h": hex(self.h),
            "u": self.u,
            "t": self.t,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DgkPublicKey:
        """Parse :meth:`to_json` output.

        Raises:
            DgkError: the document is not a DGK public key.
        """
        try:
            if data["kind"] != "hrmon-dgk-public":
                raise DgkError("not an hrmon DGK public key")
            key = cls(
                n=int(data["n"], 16),
                g=int(data["g"], 16),
                h=int(data["h"], 16),
                u=int(data["u"]),
                t=int(data["t"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DgkError):
                raise
            raise DgkError(f"malformed DGK public key: missing or invalid {exc}") from None
        if not (key.n > 3 and 1 < key.g < key.n and 1 < key.h < key.n and key.u > 2 and key.t > 0):
            raise DgkError("malformed DGK public key: values out of range")
        return key


@dataclass(frozen=True)
class DgkSecretKey:
    """DGK secret key: the factor p of n and the t-bit prime v_p (all the zero test needs).

    q and v_q are kept so that the key can be checked and serialised whole.
    """

    public: DgkPublicKey
    p: int
    q: int
    v_p: int
    v_q: int

    def __repr__(self) -> str:  # never print the secret
        return f"DgkSecretKey(key_id={self.public.key_id}, <secret>)"

    def to_json(self) -> dict[str, Any]:
        """For B's 0600 key file; integers in hex."""
        return {
            "kind": "hrmon-dgk-secret",
            "public": self.public.to_json(),
            "p": hex(self.p),
            "q": hex(self.q),
            "v_p": hex(self.v_p),
            "v_q": hex(self.v_q),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DgkSecretKey:
        """Parse :meth:`to_json` output and check that the parts fit together.

        Raises:
            DgkError: the document is not a consistent DGK secret key.
        """
        try:
            if data["kind"] != "hrmon-dgk-secret":
                raise DgkError("not an hrmon DGK secret key")
            key = cls(
                public=DgkPublicKey.from_json(data["public"]),
                p=int(data["p"], 16),
                q=int(data["q"], 16),
                v_p=int(data["v_p"], 16),
                v_q=int(data["v_q"], 16),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DgkError):
                raise
            raise DgkError(f"malformed DGK secret key: missing or invalid {exc}") from None
        pk = key.public
        if (
            key.p * key.q != pk.n
            or (key.p - 1) % (pk.u * key.v_p)
            or (key.q - 1) % (pk.u * key.v_q)
            or gmpy2.powmod(pk.h, key.v_p, key.p) != 1
        ):
            raise DgkError("DGK secret key does not match its public key")
        return key


def _prime(bits: int) -> int:
    return int(gmpy2.next_prime(secrets.randbits(bits) | (1 << (bits - 1))))


def _element_of_order(p: int, factors: Sequence[int], keep: int) -> int:
    """An element of Z_p^* whose order is exactly ``keep`` (a product of some of ``factors``,
    the distinct primes of p - 1)."""
    cofactor = (p - 1) // keep
    while True:
        x = int(gmpy2.powmod(secrets.randbelow(p - 3) + 2, cofactor, p))
        if x != 1 and all(gmpy2.powmod(x, keep // f, p) != 1 for f in factors if keep % f == 0):
            return x


def _special_prime(n_bits: int, u: int, v: int) -> tuple[int, int]:
    """p = 2 u v r + 1 prime with r prime and sqrt(2) 2^(b-1) <= p < 2^b, b = n_bits / 2,
    so that the product of two such primes has exactly n_bits bits; returns (p, r)."""
    base = 2 * u * v
    half = n_bits // 2
    low = (int(gmpy2.isqrt(1 << (2 * half - 1))) + base) // base  # sqrt(2) 2^(b-1) / base
    high = ((1 << half) - 1) // base
    while True:
        r = int(gmpy2.next_prime(low + secrets.randbelow(high - low)))
        p = base * r + 1
        if r < high and gmpy2.is_prime(p, 40):
            return p, r


def generate_dgk_keypair(
    n_bits: int = DGK_MODULUS_BITS, t: int = DGK_SUBGROUP_BITS, u: int = DGK_PLAINTEXT_PRIME
) -> DgkSecretKey:
    """Make a DGK key (slow at 2048 bits: seconds to a minute; run once at setup).

    Args:
        n_bits: |n|.
        t: bits of the subgroup primes v_p, v_q.
        u: the plaintext modulus, a small prime.

    Returns:
        The secret key; its ``public`` attribute is what A receives.

    Raises:
        ValueError: u is not prime, or n_bits is too small for t and u.
    """
    if not gmpy2.is_prime(u) or u < 3:
        raise ValueError("u must be an odd prime")
    if n_bits // 2 - 1 - u.bit_length() - t < 64:
        raise ValueError("n_bits too small for these t and u")
    v_p = _prime(t)
    v_q = _prime(t)
    while v_q == v_p:
        v_q = _prime(t)
    while True:
        p, r_p = _special_prime(n_bits, u, v_p)
        q, r_q = _special_prime(n_bits, u, v_q)
        if r_q != r_p and (q - 1) % v_p and (p - 1) % v_q:
            break
    p_factors, q_factors = (2, u, v_p, r_p), (2, u, v_q, r_q)
    crt_p = q * int(gmpy2.invert(q, p))  # = 1 mod p, 0 mod q
    crt_q = p * int(gmpy2.invert(p, q))
    n = p * q

    def joined(x_p: int, x_q: int) -> int:
        return (x_p * crt_p + x_q * crt_q) % n

    g = joined(_element_of_order(p, p_factors, u * v_p), _element_of_order(q, q_factors, u * v_q))
    h = joined(_element_of_order(p, p_factors, v_p), _element_of_order(q, q_factors, v_q))
    public = DgkPublicKey(n=n, g=g, h=h, u=u, t=t)
    return DgkSecretKey(public=public, p=p, q=q, v_p=v_p, v_q=v_q)


@functools.lru_cache(maxsize=8)
def _fixed_base_rows(base: int, modulus: int, digits: int) -> tuple[tuple[int, ...], ...]:
    """rows[k][d] = base^(d 2^(8k)) mod modulus, for ``digits`` exponent bytes."""
    rows = []
    b = gmpy2.mpz(base)
    for _ in range(digits):
        row = [gmpy2.mpz(1)]
        for _ in range((1 << _WINDOW_BITS) - 1):
            row.append(row[-1] * b % modulus)
        rows.append(tuple(row))
        b = row[-1] * b % modulus
    return tuple(rows)


def random_factors(public_key: DgkPublicKey, count: int) -> list[int]:
    """``count`` values h^r mod n, r uniform over 2.5t bits: each re-randomises one ciphertext.

    A fixed-base table for h (built once per key, about 4 MiB at t = 224) turns each into
    one multiplication per exponent byte.
    """
    width = public_key.randomness_bytes
    rows = _fixed_base_rows(public_key.h, public_key.n, width)
    n = public_key.n
    out = []
    for _ in range(count):
        acc = gmpy2.mpz(1)
        for row, digit in zip(rows, secrets.token_bytes(width), strict=True):
            acc = acc * row[digit] % n
        out.append(int(acc))
    return out


def encrypt_many(public_key: DgkPublicKey, plaintexts: Sequence[int]) -> list[int]:
    """E(m) = g^m h^r mod n for each m in Z_u, each with fresh randomness.

    Raises:
        ValueError: a plaintext is not in Z_u.
    """
    u, n, g = public_key.u, public_key.n, public_key.g
    if any(not 0 <= m < u for m in plaintexts):
        raise ValueError("DGK plaintext is not in Z_u")
    noise = random_factors(public_key, len(plaintexts))
    return [int(gmpy2.powmod(g, m, n)) * r % n for m, r in zip(plaintexts, noise, strict=True)]


def encrypt_bits(public_key: DgkPublicKey, bits: Sequence[int]) -> list[int]:
    """E(b) for bits b in {0, 1}: g^b h^r, with g^b a table look-up (same work for 0 and 1).

    Raises:
        ValueError: a value is not a bit.
    """
    if any(b not in (0, 1) for b in bits):
        raise ValueError("not a bit")
    n = public_key.n
    g_powers = (1, public_key.g)
    noise = random_factors(public_key, len(bits))
    return [g_powers[b] * r % n for b, r in zip(bits, noise, strict=True)]


def _fixed_base_power(
    rows: tuple[tuple[int, ...], ...], exponent: int, width: int, modulus: int
) -> gmpy2.mpz:
    acc = gmpy2.mpz(1)
    for row, digit in zip(rows, exponent.to_bytes(width, "little"), strict=True):
        acc = acc * row[digit] % modulus
    return acc


@functools.lru_cache(maxsize=4)
def _crt_tables(
    secret_key: DgkSecretKey,
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...], int, int, int]:
    p, q, h = secret_key.p, secret_key.q, secret_key.public.h
    width = (max(secret_key.v_p, secret_key.v_q).bit_length() + 7) // 8
    crt_p = q * int(gmpy2.invert(q, p))  # = 1 mod p, 0 mod q
    crt_q = p * int(gmpy2.invert(p, q))
    return (
        _fixed_base_rows(h % p, p, width),
        _fixed_base_rows(h % q, q, width),
        width,
        crt_p,
        crt_q,
    )


def key_holder_factors(secret_key: DgkSecretKey, count: int) -> list[int]:
    """``count`` values h^r drawn by the holder of the secret key: exactly uniform in
    <h> = <h mod p> x <h mod q> (exponents uniform mod v_p and v_q), by two fixed-base
    tables modulo the 1024-bit primes and the CRT: about 4x cheaper than
    :func:`random_factors`."""
    rows_p, rows_q, width, crt_p, crt_q = _crt_tables(secret_key)
    p, q, n = secret_key.p, secret_key.q, secret_key.public.n
    out = []
    for _ in range(count):
        acc_p = _fixed_base_power(rows_p, secrets.randbelow(secret_key.v_p), width, p)
        acc_q = _fixed_base_power(rows_q, secrets.randbelow(secret_key.v_q), width, q)
        out.append(int((acc_p * crt_p + acc_q * crt_q) % n))
    return out


def encrypt_bits_as_key_holder(
    secret_key: DgkSecretKey,
    bits: Sequence[int],
    factors: Callable[[int], list[int]] | None = None,
) -> list[int]:
    """E(b) for bits b, made by the holder of the secret key, with h^r from ``factors``
    (count -> values; a ``protocol.pool.UseOncePool``'s ``take_many``) or
    :func:`key_holder_factors`.

    Raises:
        ValueError: a value is not a bit.
    """
    if any(b not in (0, 1) for b in bits):
        raise ValueError("not a bit")
    noise = (factors or functools.partial(key_holder_factors, secret_key))(len(bits))
    n = secret_key.public.n
    g_powers = (1, secret_key.public.g)
    return [int(g_powers[b] * r % n) for b, r in zip(bits, noise, strict=True)]


def zero_flags(secret_key: DgkSecretKey, ciphertexts: Sequence[int]) -> list[bool]:
    """For each ciphertext, whether its plaintext is 0 mod u: E(m)^{v_p} mod p == 1.

    One list exponentiation in C (gmpy2 releases the GIL for it).
    """
    p = secret_key.p
    powers = gmpy2.powmod_base_list([c % p for c in ciphertexts], secret_key.v_p, p)
    return [x == 1 for x in powers]


@functools.lru_cache(maxsize=2)
def _discrete_log_table(secret_key: DgkSecretKey) -> dict[int, int]:
    base = gmpy2.powmod(secret_key.public.g, secret_key.v_p, secret_key.p)
    table: dict[int, int] = {}
    x = gmpy2.mpz(1)
    for m in range(secret_key.public.u):
        table[int(x)] = m
        x = x * base % secret_key.p
    return table


def decrypt(secret_key: DgkSecretKey, ciphertext: int) -> int:
    """Full decryption by a table of the u powers of g^{v_p} mod p (for tests and checks;
    the protocol itself needs only :func:`zero_flags`).

    Raises:
        DgkError: the value is not a ciphertext under this key.
    """
    x = int(gmpy2.powmod(ciphertext % secret_key.p, secret_key.v_p, secret_key.p))
    try:
        return _discrete_log_table(secret_key)[x]
    except KeyError:
        raise DgkError("not a DGK ciphertext under this key") from None


def ciphertext_length(public_key: DgkPublicKey) -> int:
    """Bytes in the fixed-length encoding of one DGK ciphertext."""
    return (public_key.n.bit_length() + 7) // 8


def encode_ciphertext(public_key: DgkPublicKey, ciphertext: int) -> str:
    """Fixed-length base64 of the big-endian integer."""
    return base64.b64encode(ciphertext.to_bytes(ciphertext_length(public_key), "big")).decode()


def decode_ciphertext(public_key: DgkPublicKey, text: str, field: str = "ciphertext") -> int:
    """Parse and check that the value lies in Z*_n.

    Raises:
        DgkError: naming ``field`` and what is wrong with it.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DgkError(f"{field}: not valid base64") from None
    expected = ciphertext_length(public_key)
    if len(raw) != expected:
        raise DgkError(f"{field}: {len(raw)} bytes, expected {expected} for this DGK key")
    value = int.from_bytes(raw, "big")
    if not 0 < value < public_key.n or math.gcd(value, public_key.n) != 1:
        raise DgkError(f"{field}: not an element of Z*_n")
    return value
