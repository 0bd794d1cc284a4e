"""Zero-leakage comparison mode: additive mask, then a DGK/Veugen bitwise comparison.

For each difference d (``protocol.comparison.a1_differences``; ``d >= 0`` is a violation,
``-2^l <= d < 2^l``), let ``x = d + 2^l`` in ``[0, 2^(l+1))``, so the violation bit is
``b = floor(x / 2^l)``. A masks ``z = x + R`` with R uniform over ``l + 1 + kappa`` bits
and B opens z by joint partial decryption of a packed ciphertext. Writing
``z = z_h 2^l + beta`` and ``R = R_h 2^l + alpha`` (``beta, alpha < 2^l``):

    b = z_h - R_h - [beta < alpha],   so   b = p_z xor p_R xor [beta < alpha]

with ``p_z``, ``p_R`` the bits l of z and R. The borrow ``[beta < alpha]`` between B's
``beta`` and A's ``alpha`` is Veugen's bitwise DGK comparison (eprint 2018/1100, with its
equality fix ``c_-1``), in which A folds its random flip ``delta_A`` and, through B's
encrypted ``p_z``, B's parity bit into the sign ``s``: B's zero test then yields
``u = b xor c`` with ``c = delta_A xor p_R xor 1`` known to A alone. The 8-entry answer
table of the baseline (``comparison.a4_answer_table`` / ``b3_pick_answer``) finishes it.
B keeps no state between the two rounds.

Server A (holds ``SK1``, the DGK public key, and its coins R, delta_A between rounds):
  a1  differences        as in the baseline
  a2  mask and pack      E(sum_j (d_j + 2^l + R_j) 2^(k j)), re-randomised; sent with PDec_1
  a3  bitwise terms      per check: [c_i] = [s] g^alpha_i [beta_i]^-1 (prod_{j>i} [w_j])^3,
                         [c_-1] = [delta] prod_j [w_j]; blinded by r_i in [1, u), re-randomised,
                         shuffled
  a4  answer table       8 Enc_pkD(OR_i(u_i xor c_i)), as in the baseline
Server B (holds ``SK2`` and the DGK secret key):
  b1  open pack          z_j = slot j of combine(PDec_1, PDec_2); guard bits checked
  b2  encrypt bits       [beta_0] ... [beta_(l-1)], [p_z] under DGK
  b3  zero test          u = [some term of the check decrypts to 0]
  b4  pick answer        table[u] re-randomised, as in the baseline

B's view: z, statistically within 2^-kappa of uniform whatever d is; DGK terms that are
0 at most once per check, at a shuffled position, else uniform non-zero; and u, uniform
because delta_A is.

About 340 lines: one pure function per protocol step, as the docstring's step list, so
the code reads like the protocol.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gmpy2

from protocol import comparison as cmp
from protocol import dgk
from protocol.keys import KeyShare, combine_partial_decryptions
from protocol.paillier import (
    PublicKey,
    encrypt,
    fresh_noise,
    rerandomise,
    unsafe_encrypt_without_noise,
)
from protocol.params import ANSWER_TABLE_SIZE, CHECKS_PER_READING, DEFAULT_PARAMS

SlotOutOfBand = cmp.SlotOutOfBand


@dataclass(frozen=True)
class ZeroLeakageParams:
    """Sizes of the masked comparison.

    Attributes:
        value_bits: l; every encrypted value lies in [0, 2^l), so -2^l <= d < 2^l.
        kappa: statistical hiding of z = x + R: R has kappa bits more than x (2^-kappa).
        guard_bits: extra slot bits that catch a garbage value with probability
            about 1 - 2^-guard_bits.
    """

    value_bits: int = DEFAULT_PARAMS.value_bits
    kappa: int = 40
    guard_bits: int = 40

    @property
    def compare_bits(self) -> int:
        """l: bits compared by DGK (beta = z mod 2^l against alpha = R mod 2^l)."""
        return self.value_bits

    @property
    def mask_bits(self) -> int:
        """R is uniform in [0, 2^(l + 1 + kappa))."""
        return self.value_bits + 1 + self.kappa

    @property
    def honest_bits(self) -> int:
        """An honest z = x + R lies below 2^(l + 2 + kappa)."""
        return self.value_bits + 2 + self.kappa

    @property
    def slot_bits(self) -> int:
        """k = l + 2 + kappa + guard bits."""
        return self.honest_bits + self.guard_bits

    @property
    def terms_per_check(self) -> int:
        """DGK ciphertexts per check each way: l bits and p_z; c_0..c_(l-1) and c_-1."""
        return self.compare_bits + 1

    def slots_per_ciphertext(self, n: int) -> int:
        """How many k-bit slots fit below N without wrapping."""
        return (n.bit_length() - 1) // self.slot_bits


DEFAULT_ZL_PARAMS = ZeroLeakageParams()


@dataclass(frozen=True)
class Masks:
    """A's coins for a list of checks: masks R_j and flips delta_A_j. Kept until round 2."""

    masks: tuple[int, ...]
    flips: tuple[int, ...]

    def __repr__(self) -> str:  # the coins are what keeps B's view independent of the data
        return f"Masks(<{len(self.masks)} secret masks>)"

    def __len__(self) -> int:
        return len(self.masks)


def draw_masks(count: int, params: ZeroLeakageParams = DEFAULT_ZL_PARAMS) -> Masks:
    """R_j uniform in [0, 2^(l+1+kappa)), delta_A_j a fair bit, for ``count`` checks."""
    return Masks(
        masks=tuple(secrets.randbits(params.mask_bits) for _ in range(count)),
        flips=tuple(secrets.randbelow(2) for _ in range(count)),
    )


def answer_flips(masks: Masks, params: ZeroLeakageParams = DEFAULT_ZL_PARAMS) -> tuple[int, ...]:
    """A's share c_j = delta_A_j xor p_R_j xor 1 of each violation bit (b_j = u_j xor c_j)."""
    bits_l = params.compare_bits
    return tuple(
        delta ^ ((r >> bits_l) & 1) ^ 1 for r, delta in zip(masks.masks, masks.flips, strict=True)
    )


def readings_per_pack(pk: PublicKey, params: ZeroLeakageParams = DEFAULT_ZL_PARAMS) -> int:
    """How many whole readings (four slots each) share one packed ciphertext."""
    return params.slots_per_ciphertext(pk.n) // CHECKS_PER_READING


def a2_mask_and_pack(
    pk: PublicKey,
    differences: Sequence[int],
    masks: Masks,
    noise: int,
    params: ZeroLeakageParams = DEFAULT_ZL_PARAMS,
) -> int:
    """Step a2: E(sum_j z_j 2^(k j)) with z_j = d_j + 2^l + R_j, re-randomised.

    Horner's rule over the E(d_j) (k squarings per slot); all masks enter as one plaintext.

    Raises:
        ValueError: more slots than fit below N, or masks and differences disagree in count.
    """
    count = len(differences)
    if not 0 < count <= params.slots_per_ciphertext(pk.n):
        raise ValueError(f"{count} slots do not fit one ciphertext")
    if len(masks) != count:
        raise ValueError("one mask per difference is needed")
    n2: int = pk.nsquare
    k = params.slot_bits
    packed = differences[-1]
    for d in reversed(differences[:-1]):
        packed = int(gmpy2.powmod(packed, 1 << k, n2)) * d % n2
    offset = 1 << params.compare_bits
    shift = sum((offset + r) << (k * j) for j, r in enumerate(masks.masks))
    return rerandomise(pk, packed * unsafe_encrypt_without_noise(pk, shift) % n2, noise)


def b1_open_pack(
    share_b: KeyShare,
    pk: PublicKey,
    pack: int,
    pdec1: int,
    slot_count: int,
    params: ZeroLeakageParams = DEFAULT_ZL_PARAMS,
    pdec2: int | None = None,
) -> list[int]:
    """Step b1: combine the partial decryptions and split the k-bit slots z_j (B's own
    computed now, or ahead: ``pdec2``).

    Raises:
        SlotOutOfBand: a slot has a guard bit set (or bits are set above the last slot);
            A then re-runs the pack's readings one by one.
    """
    own = share_b.partial_decrypt(pack) if pdec2 is None else pdec2
    packed = combine_partial_decryptions(pk, pdec1, own)
    k = params.slot_bits
    if packed >> (k * slot_count):
        raise SlotOutOfBand("bits set above the last slot")
    slots = [(packed >> (k * j)) & ((1 << k) - 1) for j in range(slot_count)]
    for j, z in enumerate(slots):
        if z >> params.honest_bits:
            raise SlotOutOfBand(f"slot {j} has guard bits set")
    return slots


def b2_encrypt_bits(
    dgk_sk: dgk.DgkSecretKey,
    masked: Sequence[int],
    params: ZeroLeakageParams = DEFAULT_ZL_PARAMS,
    factors: Callable[[int], list[int]] | None = None,
) -> list[int]:
    """Step b2: per z, DGK encryptions of beta_0..beta_(l-1) (z mod 2^l, low bit first) and
    of p_z (bit l of z); ``l + 1`` ciphertexts per check, in check order. B holds the DGK
    secret key, so it draws the randomness through the CRT (``dgk.key_holder_factors``),
    or takes it from ``factors`` (a pool of those)."""
    bits_l = params.compare_bits
    bits = [(z >> i) & 1 for z in masked for i in range(bits_l + 1)]
    return dgk.encrypt_bits_as_key_holder(dgk_sk, bits, factors)


def _batch_invert(values: Sequence[int], modulus: int) -> list[int]:
    """Inverses of all ``values`` with one modular inversion (Montgomery's trick)."""
    prefix = [gmpy2.mpz(1)]
    for v in values:
        prefix.append(prefix[-1] * v % modulus)
    inverse_all = gmpy2.invert(prefix[-1], modulus)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = int(inverse_all * prefix[i] % modulus)
        inverse_all = inverse_all * values[i] % modulus
    return out


def _shuffled(values: list[int]) -> list[int]:
    secrets.SystemRandom().shuffle(values)
    return values


def a3_bitwise_terms(
    dgk_pk: dgk.DgkPublicKey,
    encrypted_bits: Sequence[int],
    masks: Masks,
    params: ZeroLeakageParams = DEFAULT_ZL_PARAMS,
    factors: Callable[[int], list[int]] | None = None,
) -> list[int]:
    """Step a3: Veugen's terms for every check, blinded, re-randomised, shuffled per check.

    With alpha = R mod 2^l, w_j = alpha_j xor beta_j and the flip
    delta = delta_A xor p_z (linear in [p_z]), s = 1 - 2 delta:
    c_i = s + alpha_i - beta_i + 3 sum_{j>i} w_j for i < l, c_-1 = delta + sum_j w_j.
    Exactly one term is 0 iff [beta < alpha] xor delta xor 1 = 1; each term is raised to
    a random r in [1, u) so the others decrypt to uniform non-zero values.

    ``factors(k)`` supplies k never-used re-randomisers h^r (a
    ``protocol.pool.UseOncePool``'s ``take_many``); fresh ones by default.

    Raises:
        ValueError: the number of ciphertexts is not ``l + 1`` per mask.
    """
    bits_l = params.compare_bits
    width = params.terms_per_check
    if len(encrypted_bits) != width * len(masks):
        raise ValueError(f"expected {width} DGK ciphertexts per check")
    n, g, u = dgk_pk.n, dgk_pk.g, dgk_pk.u
    inverses = _batch_invert(encrypted_bits, n)
    g_inv = int(gmpy2.invert(g, n))
    g_powers = (1, g)
    terms: list[int] = []
    for j, (r_mask, delta_a) in enumerate(zip(masks.masks, masks.flips, strict=True)):
        beta = encrypted_bits[width * j : width * (j + 1)]
        beta_inv = inverses[width * j : width * (j + 1)]
        parity, parity_inv = beta[bits_l], beta_inv[bits_l]
        # [delta] = [delta_A + (1 - 2 delta_A) p_z]; both choices computed, one taken
        delta = (parity, g * parity_inv % n)[delta_a]
        delta_inv = (parity_inv, g_inv * parity % n)[delta_a]
        s = g * delta_inv % n * delta_inv % n
        group: list[int] = []
        suffix = gmpy2.mpz(1)  # prod_{j>i} [w_j]
        for i in range(bits_l - 1, -1, -1):
            alpha_i = (r_mask >> i) & 1
            cube = suffix * suffix % n * suffix % n
            group.append(int(s * g_powers[alpha_i] % n * beta_inv[i] % n * cube % n))
            w_i = (beta[i], g * beta_inv[i] % n)[alpha_i]
            suffix = suffix * w_i % n
        group.append(int(delta * suffix % n))
        terms.extend(group)
    blinding = [secrets.randbelow(u - 1) + 1 for _ in terms]
    noise = (factors or functools.partial(dgk.random_factors, dgk_pk))(len(terms))
    blinded = [
        int(gmpy2.powmod(c, r, n)) * rho % n
        for c, r, rho in zip(terms, blinding, noise, strict=True)
    ]
    return [x for j in range(len(masks)) for x in _shuffled(blinded[width * j : width * (j + 1)])]


def a4_answer_tables(
    pk_physicians: Sequence[PublicKey],
    masks: Masks,
    noise: Callable[[PublicKey], int],
    params: ZeroLeakageParams = DEFAULT_ZL_PARAMS,
) -> list[tuple[int, ...]]:
    """Step a4: one 8-entry table per reading (four checks each), under its physician's key.

    ``noise(pk_D)`` supplies a never-used r^N under that key (a pool's ``take``).

    Raises:
        ValueError: not four checks per reading.
    """
    flips = answer_flips(masks, params)
    if len(flips) != CHECKS_PER_READING * len(pk_physicians):
        raise ValueError(f"{CHECKS_PER_READING} checks per reading are needed")
    tables = []
    for j, pk_d in enumerate(pk_physicians):
        reading_flips = flips[CHECKS_PER_READING * j : CHECKS_PER_READING * (j + 1)]
        tables.append(
            tuple(
                encrypt(pk_d, cmp.result_for_index(reading_flips, row), noise(pk_d))
                for row in range(ANSWER_TABLE_SIZE)
            )
        )
    return tables


def b3_zero_test(
    dgk_sk: dgk.DgkSecretKey, terms: Sequence[int], params: ZeroLeakageParams = DEFAULT_ZL_PARAMS
) -> list[int]:
    """Step b3: u_j = 1 when some term of check j decrypts to 0 (B's share of b_j).

    Raises:
        ValueError: the number of terms is not a whole number of checks.
    """
    width = params.terms_per_check
    if not terms or len(terms) % width:
        raise ValueError(f"expected {width} DGK terms per check")
    zero = dgk.zero_flags(dgk_sk, terms)
    return [int(any(zero[i : i + width])) for i in range(0, len(zero), width)]


def b4_pick_answers(
    answer_tables: Sequence[tuple[PublicKey, Sequence[int]]],
    shares: Sequence[int],
    noise: Callable[[PublicKey], int] = fresh_noise,
) -> list[int]:
    """Step b4: per reading, the table entry indexed by its four u's, re-randomised.

    Raises:
        ValueError: shares and tables do not match (four shares per table).
    """
    if len(shares) != CHECKS_PER_READING * len(answer_tables):
        raise ValueError(f"{CHECKS_PER_READING} shares per answer table are needed")
    return [
        cmp.b3_pick_answer(
            pk_d,
            table,
            shares[CHECKS_PER_READING * j : CHECKS_PER_READING * (j + 1)],
            noise(pk_d),
        )
        for j, (pk_d, table) in enumerate(answer_tables)
    ]
