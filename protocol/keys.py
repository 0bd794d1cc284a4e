"""The system key, split into two full-size shares (SOCI / POCF threshold Paillier).

``delta = lambda * (lambda^-1 mod N)`` so ``delta = 0 mod lambda`` and ``delta = 1 mod N``;
``SK1`` is uniform in ``[0, lambda*N)`` and ``SK2 = (delta - SK1) mod (lambda*N)``.
``PDec_i(c) = c^SK_i mod N^2`` and ``m = (PDec_1 * PDec_2 mod N^2 - 1) / N``.

Both shares are full size. SOCI's code draws a 128-bit SK1; since SK1 + SK2 = 1 mod N,
the holder of SK2 then reads SK1 = (1 - SK2) mod N and decrypts alone.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import gmpy2

from protocol.paillier import PublicKey, generate_keypair, long_powmod


class ShareError(ValueError):
    """A key share is malformed or does not belong to the expected key."""


@dataclass(frozen=True)
class KeyShare:
    """One server's share of the system secret key.

    Attributes:
        n: the system modulus N.
        value: SK_i, uniform-looking in [0, lambda*N).
        index: 1 for server A, 2 for server B.
    """

    n: int
    value: int
    index: int

    def __repr__(self) -> str:  # never print the secret
        return f"KeyShare(index={self.index}, n_bits={self.n.bit_length()}, value=<secret>)"

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.n)

    def partial_decrypt(self, ciphertext: int) -> int:
        """PDec_i(c) = c^SK_i mod N^2."""
        return long_powmod(ciphertext, self.value, self.n * self.n)

    def to_json(self) -> dict[str, Any]:
        """For a 0600 key file; hex strings."""
        return {
            "kind": "hrmon-key-share",
            "index": self.index,
            "n": hex(self.n),
            "value": hex(self.value),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyShare:
        """Parse :meth:`to_json` output.

        Raises:
            ShareError: the document is not a key share.
        """
        try:
            if data["kind"] != "hrmon-key-share":
                raise ShareError("not an hrmon key share file")
            share = cls(
                n=int(data["n"], 16), value=int(data["value"], 16), index=int(data["index"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ShareError):
                raise
            raise ShareError(f"malformed key share: missing or invalid {exc}") from None
        if share.index not in (1, 2) or share.n < 3 or share.value <= 0:
            raise ShareError("malformed key share: bad index, modulus or value")
        return share


def split_secret(n: int, lam: int) -> tuple[KeyShare, KeyShare]:
    """Split lambda into two full-size additive shares of delta modulo lambda*N."""
    order = lam * n
    delta = lam * int(gmpy2.invert(lam, n))
    sk1 = secrets.randbelow(order)
    sk2 = (delta - sk1) % order
    return KeyShare(n, sk1, 1), KeyShare(n, sk2, 2)


def generate_system_key(bits: int) -> tuple[PublicKey, KeyShare, KeyShare]:
    """Make the system key, split its secret, and forget it (nothing else is returned).

    Args:
        bits: |N|; 2048 by default in the CLI, 3072 selectable; small only in tests.

    Returns:
        The public key and the shares for server A (index 1) and server B (index 2).
    """
    public_key, private_key = generate_keypair(bits)
    p, q = int(private_key.p), int(private_key.q)
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    share_a, share_b = split_secret(public_key.n, lam)
    del private_key, p, q, lam
    return public_key, share_a, share_b


def combine_partial_decryptions(public_key: PublicKey, pdec1: int, pdec2: int) -> int:
    """m = (PDec_1 * PDec_2 mod N^2 - 1) / N, in Z_N.

    Raises:
        ShareError: the product is not of the form 1 + mN (shares of another key).
    """
    n: int = public_key.n
    product = pdec1 * pdec2 % public_key.nsquare
    m, remainder = divmod(product - 1, n)
    if remainder != 0 or not 0 <= m < n:
        raise ShareError("partial decryptions do not combine: shares of a different key")
    return m
