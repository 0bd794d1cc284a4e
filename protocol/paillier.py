"""Paillier ciphertext arithmetic on raw integers (g = N + 1).

Keys and decryption come from ``phe``; the raw exponentiations go through ``gmpy2``.
Ciphertexts are plain ints so that packing, (de)serialisation and the servers never deal
with phe's ``EncryptedNumber`` and its clear-text exponent.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque

import gmpy2
from phe import paillier

PublicKey = paillier.PaillierPublicKey
PrivateKey = paillier.PaillierPrivateKey


def key_id(public_key: PublicKey) -> str:
    """Short public fingerprint of a key, carried with every ciphertext to catch key mix-ups."""
    n: int = public_key.n
    digest = hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()
    return digest[:16]


def fresh_noise(public_key: PublicKey) -> int:
    """r^N mod N^2 for a uniform r in Z*_N: the randomness of one encryption."""
    n: int = public_key.n
    while True:
        r = secrets.randbelow(n - 1) + 1
        if gmpy2.gcd(r, n) == 1:
            return int(gmpy2.powmod(r, n, public_key.nsquare))


class NoisePool:
    """Precomputed r^N values; each is handed out once. Empty pool: computed on demand.

    ``fill`` is meant for a background thread; ``take`` never blocks and never reuses.
    """

    def __init__(self, public_key: PublicKey, target: int = 64) -> None:
        self.public_key = public_key
        self.target = target
        self._items: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def fill(self, count: int | None = None) -> int:
        """Add up to ``count`` (default: up to ``target``) values; return how many were added."""
        wanted = (self.target - len(self._items)) if count is None else count
        for _ in range(max(0, wanted)):
            self._items.append(fresh_noise(self.public_key))
        return max(0, wanted)

    def take(self) -> int:
        """One never-used r^N value."""
        try:
            return self._items.popleft()
        except IndexError:
            return fresh_noise(self.public_key)


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


def generate_keypair(bits: int) -> tuple[PublicKey, PrivateKey]:
    """An ordinary Paillier key pair (the physician's), via phe."""
    public_key, private_key = paillier.generate_paillier_keypair(n_length=bits)
    return public_key, private_key
