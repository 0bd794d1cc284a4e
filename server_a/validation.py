"""Checks of client input that need a key: ciphertexts and physicians' public keys.

Errors name the field and what is wrong, never a value.
"""

from __future__ import annotations

import hmac

from protocol.ciphertext import CiphertextError, decode_ciphertext
from protocol.messages import PhysicianPublicKey
from protocol.paillier import PublicKey, key_id
from service_common.keyfiles import minimum_key_bits


class InputRejected(ValueError):
    """Client input that must get a 422; the message starts with the field's name."""


def check_system_ciphertexts(
    system_key: PublicKey, claimed_key_id: str, fields: dict[str, str]
) -> None:
    """``key_id`` must be the system key's and each ciphertext must lie in Z*_{N^2}.

    Raises:
        InputRejected: naming ``key_id`` or the first bad field.
    """
    if not hmac.compare_digest(claimed_key_id, key_id(system_key)):
        raise InputRejected("key_id: not the system key of this server (check the pinned key)")
    for name, text in fields.items():
        try:
            decode_ciphertext(system_key, text, name)
        except CiphertextError as exc:
            raise InputRejected(str(exc)) from None


def check_physician_key(public_key: PhysicianPublicKey, allow_insecure_test_keys: bool) -> str:
    """A physician's pk_D must be an odd modulus of accepted size whose fingerprint matches.

    Returns:
        The modulus as lower-case hex with ``0x``.

    Raises:
        InputRejected: naming ``public_key.n`` or ``public_key.key_id``.
    """
    n = int(public_key.n, 16)
    minimum = minimum_key_bits(allow_insecure_test_keys)
    if n.bit_length() < minimum or n % 2 == 0:
        raise InputRejected(f"public_key.n: not an odd modulus of at least {minimum} bits")
    if not hmac.compare_digest(key_id(PublicKey(n)), public_key.key_id):
        raise InputRejected("public_key.key_id: is not the fingerprint of public_key.n")
    return hex(n)
