"""Keys for a benchmark run: the split system key and a physician key pair of one size."""

from __future__ import annotations

import os
from dataclasses import dataclass

from protocol.keys import KeyShare, generate_system_key
from protocol.paillier import PrivateKey, PublicKey, generate_keypair
from protocol.params import MIN_KEY_BITS

INSECURE_KEYS_ENV = "HRMON_ALLOW_INSECURE_TEST_KEYS"
"""Set to 1 (tests only) to let the bench use keys under 2048 bits, as the servers do."""


class InsecureKeySize(ValueError):
    """A key size under the minimum was asked for outside tests."""


def check_key_bits(bits: int) -> int:
    """Return ``bits`` if allowed: >= 2048, or any size >= 512 with the test-only switch.

    Raises:
        InsecureKeySize: naming the size and the switch.
    """
    allow_small = os.environ.get(INSECURE_KEYS_ENV) == "1"
    floor = 512 if allow_small else MIN_KEY_BITS
    if bits < floor:
        raise InsecureKeySize(
            f"--key-bits {bits} is under {MIN_KEY_BITS}; "
            f"{INSECURE_KEYS_ENV}=1 allows small keys in tests only"
        )
    return bits


@dataclass(frozen=True)
class BenchKeys:
    """Everything the bench runs under at one key size (picklable for worker processes)."""

    bits: int
    pk: PublicKey
    share_a: KeyShare
    share_b: KeyShare
    pk_physician: PublicKey
    sk_physician: PrivateKey

    def __repr__(self) -> str:  # never print key material
        return f"BenchKeys(bits={self.bits})"


def make_keys(bits: int) -> BenchKeys:
    """A fresh system key (split) and physician key pair of ``bits`` bits.

    Raises:
        InsecureKeySize: see :func:`check_key_bits`.
    """
    check_key_bits(bits)
    pk, share_a, share_b = generate_system_key(bits)
    pk_physician, sk_physician = generate_keypair(bits)
    return BenchKeys(bits, pk, share_a, share_b, pk_physician, sk_physician)
