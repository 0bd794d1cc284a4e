"""Cost of each cryptographic primitive the protocol is built from, at one key size."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import gmpy2

from bench.keys import BenchKeys
from bench.stats import Summary, time_ms
from protocol.keys import combine_partial_decryptions
from protocol.paillier import (
    NoisePool,
    add,
    decrypt,
    decrypt_small,
    djn_base,
    djn_exponent_bits,
    encrypt,
    fresh_noise,
    rerandomise,
    scalar_mul,
)


@dataclass(frozen=True)
class PrimitiveResult:
    """One primitive's timing.

    Attributes:
        name: what was timed.
        summary: median/IQR in ms.
        note: how it is used or why it is listed.
    """

    name: str
    summary: Summary
    note: str


def measure_primitives(keys: BenchKeys, repeats: int) -> list[PrimitiveResult]:
    """Time each primitive ``repeats`` times (after one untimed warm-up).

    Args:
        keys: the keys of this key size.
        repeats: timed runs per primitive.

    Returns:
        One result per primitive, in table order.
    """
    pk, n2 = keys.pk, keys.pk.nsquare
    pool = NoisePool(pk, 0)
    pool.fill(repeats + 1)
    c1, c2 = encrypt(pk, 12345), encrypt(pk, 678)
    pdec1, pdec2 = keys.share_a.partial_decrypt(c1), keys.share_b.partial_decrypt(c1)
    answer = encrypt(keys.pk_physician, 1)
    base = fresh_noise(pk)

    cases: list[tuple[str, Callable[[], object], str]] = [
        ("encrypt, fresh randomness", lambda: encrypt(pk, 724), "device, answer tables"),
        ("r^N (one noise value)", lambda: fresh_noise(pk), "what a pool precomputes"),
        ("encrypt, precomputed r^N", lambda: encrypt(pk, 724, pool.take()), "with a pool"),
        ("re-randomise, precomputed r^N", lambda: rerandomise(pk, c1, base), "a3, b3"),
        ("partial decryption PDec_i", lambda: keys.share_a.partial_decrypt(c1), "A and B"),
        ("combine PDec_1 * PDec_2", lambda: combine_partial_decryptions(pk, pdec1, pdec2), "B"),
        ("CRT decryption (sk_D)", lambda: decrypt(keys.sk_physician, answer), "before #17"),
        (
            "decryption mod p only (sk_D)",
            lambda: decrypt_small(keys.sk_physician, answer),
            "physician: a bit, a tally",
        ),
        ("homomorphic add", lambda: add(pk, c1, c2), "a1, tally"),
        ("scalar mul, 81-bit", lambda: scalar_mul(pk, c1, secrets.randbits(81)), "a2: E(d)^(2 r1)"),
        ("inverse mod N^2", lambda: gmpy2.invert(c1, n2), "a1, a2: E(-x)"),
        (
            f"r^N by a {djn_exponent_bits(pk)}-bit exponent, plain powmod",
            lambda: gmpy2.powmod(djn_base(pk.n), secrets.randbits(djn_exponent_bits(pk)), n2),
            "DJN short exponent without the table",
        ),
        ("r^N, DJN fixed-base table", lambda: fresh_noise(pk, "djn"), "HRMON_NOISE_SCHEME=djn"),
    ]
    return [PrimitiveResult(name, time_ms(fn, repeats), note) for name, fn, note in cases]
