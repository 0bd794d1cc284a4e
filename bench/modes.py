"""Comparison modes the bench knows: how to record B's view of each, for the leakage rows.

A mode registers a name (the JSON prefix: ``<name>_leakage_bits``) and a function that
runs the mode for real and returns, per check, what B saw and the true distance to the
bound. The zero-leakage mode (#8) adds itself here with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import pipeline as pl
from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol.keys import combine_partial_decryptions
from protocol.paillier import unsafe_encrypt_without_noise
from protocol.params import CHECKS_PER_READING, DEFAULT_PARAMS

RecordView = Callable[[BenchKeys, int], tuple[list[int], list[int]]]
"""(keys, checks) -> (B's view per check, true distance per check)."""


@dataclass(frozen=True)
class ComparisonMode:
    """A comparison protocol whose leakage the bench estimates.

    Attributes:
        name: JSON prefix, e.g. ``baseline`` -> ``baseline_leakage_bits``.
        description: one line for the table.
        record_view: runs the mode and returns B's view and the secrets, per check.
    """

    name: str
    description: str
    record_view: RecordView


MODES: dict[str, ComparisonMode] = {}


def register(mode: ComparisonMode) -> ComparisonMode:
    """Add (or replace) a mode; returns it, so it can decorate a module-level constant."""
    MODES[mode.name] = mode
    return mode


def distances(hr: int, score: int) -> tuple[int, int, int]:
    """d1 = lo - hr - 1, d2 = hr - hi - 1, d3 = s - tau, in the order A packs them."""
    return pl.LOW - hr - 1, hr - pl.HIGH - 1, score - pl.THRESHOLD


def record_baseline_view(keys: BenchKeys, checks: int) -> tuple[list[int], list[int]]:
    """Run a1-a3 and both partial decryptions for real; keep the slots B opens.

    B's view of a check is t = t' - 2^(k-1), which B computes from the opened slot. The
    inputs are encrypted without randomness and the pack is not re-randomised: B's
    opened plaintext does not depend on either, and this keeps many trials affordable.
    """
    half = 1 << (DEFAULT_PARAMS.slot_bits - 1)
    mask = (1 << DEFAULT_PARAMS.slot_bits) - 1
    per_pack = cmp.readings_per_pack(keys.pk)
    bounds = cmp.EncryptedBounds(
        *(unsafe_encrypt_without_noise(keys.pk, v) for v in (pl.LOW, pl.HIGH, pl.THRESHOLD))
    )
    plain = pl.sample_readings(-(-checks // CHECKS_PER_READING))
    views: list[int] = []
    secrets_: list[int] = []
    for start in range(0, len(plain), per_pack):
        group = plain[start : start + per_pack]
        slots: list[int] = []
        for hr, score in group:
            reading = cmp.EncryptedReading(
                unsafe_encrypt_without_noise(keys.pk, hr),
                unsafe_encrypt_without_noise(keys.pk, score),
            )
            differences = cmp.a1_differences(keys.pk, reading, bounds)
            slots.extend(cmp.a2_blind(keys.pk, differences, cmp.draw_blinding()))
            secrets_.extend(distances(hr, score))
        pack = cmp.a3_pack(keys.pk, slots, 1)
        opened = combine_partial_decryptions(
            keys.pk, keys.share_a.partial_decrypt(pack), keys.share_b.partial_decrypt(pack)
        )
        cmp.b2_read_signs(opened, len(slots))  # B's own check that every slot is honest
        k = DEFAULT_PARAMS.slot_bits
        views.extend(((opened >> (k * j)) & mask) - half for j in range(len(slots)))
    return views[:checks], secrets_[:checks]


BASELINE = register(
    ComparisonMode(
        "baseline",
        "blinded packed sign test (DESIGN.md): B sees |t| ~ r1 |2d + 1|",
        record_baseline_view,
    )
)
