"""Comparison modes the bench knows: how to record B's view of each, for the leakage rows.

A mode registers a name (the JSON prefix: ``<name>_leakage_bits``) and a function that
runs the mode for real and returns, per check, what B saw and the true distance to the
bound. The zero-leakage mode (#8) adds itself here with :func:`register`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import pipeline as pl
from bench.keys import BenchKeys
from protocol import comparison as cmp
from protocol.keys import combine_partial_decryptions
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


def distances(reading: pl.Plain) -> tuple[int, int, int, int]:
    """d1 = lo - (hr + K m) - 1, d2 = hr - hi - 1, d3 = s - tau, d4 = q - rho, in packing
    order."""
    hr, score, irregularity, rate_missing = reading
    return (
        pl.LOW - (hr + DEFAULT_PARAMS.rate_missing_shift * rate_missing) - 1,
        hr - pl.HIGH - 1,
        score - pl.THRESHOLD,
        irregularity - pl.IRREGULARITY_THRESHOLD,
    )


def record_baseline_view(keys: BenchKeys, checks: int) -> tuple[list[int], list[int]]:
    """B's view and the true distance per check, over readings spread across all values."""
    plain = pl.sample_readings(-(-checks // CHECKS_PER_READING))
    views, secrets_ = baseline_views(keys, plain)
    return views[:checks], secrets_[:checks]


def baseline_views(keys: BenchKeys, plain: Sequence[pl.Plain]) -> tuple[list[int], list[int]]:
    """Run a1-a3 and both partial decryptions for real; keep the slots B opens.

    B's view of a check is t = t' - 2^(k-1), which B computes from the opened slot. The
    inputs are encrypted without randomness and the pack is not re-randomised: B's
    opened plaintext does not depend on either, and this keeps many trials affordable.

    Returns:
        B's view and the true distance d, per check, four per reading in pack order.
    """
    half = 1 << (DEFAULT_PARAMS.slot_bits - 1)
    mask = (1 << DEFAULT_PARAMS.slot_bits) - 1
    per_pack = cmp.readings_per_pack(keys.pk)
    bounds = pl.plain_bounds(keys.pk)
    views: list[int] = []
    secrets_: list[int] = []
    for start in range(0, len(plain), per_pack):
        group = plain[start : start + per_pack]
        slots: list[int] = []
        for values in group:
            reading = pl.plain_reading(keys.pk, values)
            differences = cmp.a1_differences(keys.pk, reading, bounds)
            slots.extend(cmp.a2_blind(keys.pk, differences, cmp.draw_blinding()))
            secrets_.extend(distances(values))
        pack = cmp.a3_pack(keys.pk, slots, 1)
        opened = combine_partial_decryptions(
            keys.pk, keys.share_a.partial_decrypt(pack), keys.share_b.partial_decrypt(pack)
        )
        cmp.b2_read_signs(opened, len(slots))  # B's own check that every slot is honest
        k = DEFAULT_PARAMS.slot_bits
        views.extend(((opened >> (k * j)) & mask) - half for j in range(len(slots)))
    return views, secrets_


def baseline_bit_guess_accuracy(keys: BenchKeys, trials: int) -> float:
    """How often B guesses the violation bit right next to a bound, from |t| alone.

    Readings at hr = lo - 1 (d1 = 0, violated) or hr = lo (d1 = -1, not), half and half;
    B's rule: violated when |t| > 2^(sigma - 1), the rule that read the bit 75 % of the
    time while r2 was drawn from [0, r1) (#12). 0.5 is a coin: B learns nothing.
    """
    plain = [pl.Plain(pl.LOW - 1 + secrets.randbelow(2), 0, 0) for _ in range(trials)]
    views, distances_ = baseline_views(keys, plain)
    cut = 1 << (DEFAULT_PARAMS.sigma - 1)
    d1 = slice(0, None, CHECKS_PER_READING)  # the heart-rate-too-slow check
    right = [
        (abs(view) > cut) == (d >= 0) for view, d in zip(views[d1], distances_[d1], strict=True)
    ]
    return sum(right) / len(right)


BASELINE = register(
    ComparisonMode(
        "baseline",
        "blinded packed sign test (DESIGN.md): B sees |t| ~ r1 |2d + 1|",
        record_baseline_view,
    )
)
