"""Ciphertext wire format: fixed-length base64 of the big-endian integer, validated.

A fixed length for a given key means every reading has the same size on the wire.
"""

from __future__ import annotations

import base64
import binascii
import math

from protocol.paillier import PublicKey


class CiphertextError(ValueError):
    """A ciphertext is malformed or not an element of Z*_{N^2}."""


def ciphertext_length(public_key: PublicKey) -> int:
    """Bytes in the encoding of one ciphertext under this key."""
    nsquare: int = public_key.nsquare
    return (nsquare.bit_length() + 7) // 8


def encode_ciphertext(public_key: PublicKey, ciphertext: int) -> str:
    """Fixed-length base64."""
    return base64.b64encode(ciphertext.to_bytes(ciphertext_length(public_key), "big")).decode()


def decode_ciphertext(public_key: PublicKey, text: str, field: str = "ciphertext") -> int:
    """Parse and check that the value lies in Z*_{N^2}.

    Raises:
        CiphertextError: naming ``field`` and what is wrong with it.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CiphertextError(f"{field}: not valid base64") from None
    expected = ciphertext_length(public_key)
    if len(raw) != expected:
        raise CiphertextError(
            f"{field}: {len(raw)} bytes, expected {expected} for this key (made under another key?)"
        )
    value = int.from_bytes(raw, "big")
    if not 0 < value < public_key.nsquare:
        raise CiphertextError(f"{field}: out of range, not in (0, N^2)")
    if math.gcd(value, public_key.n) != 1:
        raise CiphertextError(f"{field}: not invertible mod N^2")
    return value
