"""``hrmon train quality``: fit the device's signal-quality gate on PhysioNet 2016's
quality labels, report it leave-one-set-out, and export it.

PhysioNet/CinC 2016 marks each recording's signal quality (``REFERENCE_withSQI.csv``,
0 = too poor to classify: 241 of 2704, mostly in sets b and e). The gate
(``signals.quality_gate``) is the cycle model's regression (``fit_cycle_model``: training
medians imputed, standardised, clipped, L2 with C = 0.003, each (set, label) cell weighted
equally) on the same 43 cycle features, with "poor" as the label. Its threshold keeps
:data:`KEEP_GOOD` of the good recordings whose heart rate the device can read (the
recordings it would send today). Both were fixed before any evaluation; leave-one-set-out
reports what the gate adds to the heart-rate check alone, per set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import cli_help
from model.cycle_train import FloatArray, fit_cycle_model, load_cycle_features
from model.data import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    Record,
    index_records,
    quality_labels,
    read_training_audio,
)
from model.evaluate import merge_metrics
from signals.quality_gate import GATE_NAME, QualityGate

MODEL_DIR = Path(__file__).resolve().parent
KEEP_GOOD = 0.99
BoolArray = npt.NDArray[np.bool_]


def heart_rate_readable(records: list[Record]) -> BoolArray:
    """Whether the device's heart-rate estimator gives a usable rate, per record."""
    from signals.audio import WORKING_RATE
    from signals.heart_rate import estimate_heart_rate

    readable = []
    for record in records:
        estimate = estimate_heart_rate(read_training_audio(record.path), WORKING_RATE)
        readable.append(bool(estimate.usable and estimate.bpm is not None))
    return np.asarray(readable)


def fit_gate(
    features: FloatArray, poor: npt.NDArray[np.int64], sets: list[str], readable: BoolArray
) -> QualityGate:
    """The regression on these recordings; the threshold keeps :data:`KEEP_GOOD` of the
    good ones with a readable heart rate."""
    model = fit_cycle_model(features, poor, sets)
    kept = (poor == 0) & readable
    probabilities = np.array([model.probability(x) for x in features[kept]])
    return QualityGate(model, float(np.quantile(probabilities, KEEP_GOOD)))


def loso(
    features: FloatArray, poor: npt.NDArray[np.int64], sets: list[str], readable: BoolArray
) -> dict[str, dict[str, int]]:
    """Per set held out: poor recordings sent and good ones held back, with the gate
    (fitted on the other sets) and with the heart-rate check alone."""
    names = np.asarray(sets)
    out: dict[str, dict[str, int]] = {}
    for held_out in sorted(set(sets)):
        train, test = names != held_out, names == held_out
        gate = fit_gate(features[train], poor[train], list(names[train]), readable[train])
        passes = np.array([not gate.too_poor(x) for x in features[test]])
        sent_gate, sent_rate = readable[test] & passes, readable[test]
        bad, good = poor[test] == 1, poor[test] == 0
        out[held_out] = {
            "poor": int(bad.sum()),
            "poor_sent": int(sent_gate[bad].sum()),
            "poor_sent_rate_check_only": int(sent_rate[bad].sum()),
            "good": int(good.sum()),
            "good_held": int((~sent_gate)[good].sum()),
            "good_held_rate_check_only": int((~sent_rate)[good].sum()),
        }
    return out


def _parse(argv: list[str]) -> argparse.Namespace:
    p = cli_help.parser(prog="hrmon train quality", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--export", action="store_true", help=f"write model/{GATE_NAME}")
    p.add_argument("--save-metrics", metavar="KEY", help="store the LOSO result in metrics.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """Entry point of ``hrmon train quality``."""
    args = _parse(argv)
    labels = quality_labels(args.data_dir)
    every = index_records(args.data_dir, {})
    kept = [i for i, r in enumerate(every) if r.name in labels]
    records = [every[i] for i in kept]
    features = load_cycle_features(every, args.cache_dir)[kept]  # the CNN's cache, shared
    poor = np.array([labels[r.name] for r in records], dtype=np.int64)
    sets = [r.set_name for r in records]
    readable = heart_rate_readable(records)
    result: dict[str, Any] = {"per_set": loso(features, poor, sets, readable)}
    for held_out, row in result["per_set"].items():
        print(
            f"holdout {held_out}: poor sent {row['poor_sent']}/{row['poor']} "
            f"(rate check only {row['poor_sent_rate_check_only']}), good held back "
            f"{row['good_held']}/{row['good']} (rate check only {row['good_held_rate_check_only']})"
        )
    totals = {k: sum(row[k] for row in result["per_set"].values()) for k in result["per_set"]["a"]}
    result["total"] = totals
    print(
        f"all sets: poor sent {totals['poor_sent']}/{totals['poor']} (rate check only "
        f"{totals['poor_sent_rate_check_only']}), good held back {totals['good_held']}/"
        f"{totals['good']} (rate check only {totals['good_held_rate_check_only']})"
    )
    if args.save_metrics:
        result["argv"] = ["hrmon", "train", "quality", *argv]
        merge_metrics(MODEL_DIR / "metrics.json", args.save_metrics, result)
    if args.export:
        gate = fit_gate(features, poor, sets, readable)
        (MODEL_DIR / GATE_NAME).write_text(json.dumps(gate.to_json(), indent=1) + "\n")
        print(f"wrote {MODEL_DIR / GATE_NAME}: threshold {gate.threshold:.4f}")
    return 0
