"""``hrmon train cycle``: fit the cycle-feature model, evaluate its fusion with the CNN
leave-one-set-out, and export it for the device.

The model is an L2 logistic regression on ``signals.cycle_features`` (C fixed at 0.003,
the value an inner leave-one-set-out over the training sets chose in three of four outer
folds of the first experiment), each (set, label) cell weighted equally so that
training-e's 1,664 normal recordings do not decide it. Its fusion with the CNN
(``signals.cycle_model.fuse``, mean of logits) was fixed before any evaluation.

``--loso RUN_DIR ...``: for each CNN run trained with ``--holdout-set X --test-fraction
0`` (its ``split.json`` and ``scores.json``), fit the regression on that run's training
part, choose each score's threshold on that run's validation part (never on X), and
report X for the CNN, the regression and the fusion (runs holding out the same set are
averaged as one CNN ensemble). ``--export``: fit on the shipped
split's training part, choose the fused threshold of each shipped CNN file on the
validation part, scored through the device's own path, and write
``model/cycle_model.json``.

About 330 lines: the regression's fit, its leave-one-set-out evaluation (ensembles,
diagnoses) and its export are one model's training, as ``model/train.py`` is the CNN's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import cli_help
from model.data import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    Record,
    diagnoses,
    index_records,
    parse_extra_sets,
    read_training_audio,
)
from model.evaluate import auc_score, best_macro_threshold, binary_metrics, merge_metrics
from signals import cycle_features
from signals.cycle_model import CycleModel, fuse

MODEL_DIR = Path(__file__).resolve().parent
EXPORT_NAME = "cycle_model.json"
C = 0.003
FloatArray = npt.NDArray[np.float64]


def load_cycle_features(records: list[Record], cache_dir: Path = DEFAULT_CACHE_DIR) -> FloatArray:
    """(records, features), computed once (about 4 min for all six sets) and cached.

    The cache is keyed by the record names and the feature code itself.
    """
    source = Path(cycle_features.__file__).read_bytes()
    key = hashlib.sha256(source + json.dumps([r.name for r in records]).encode()).hexdigest()
    path = cache_dir / f"cycle-features-{key[:16]}.npy"
    if path.is_file():
        cached: FloatArray = np.load(path)
        return cached
    from rich.progress import track

    rows = [
        cycle_features.recording_features(read_training_audio(r.path))
        for r in track(records, description="cycle features")
    ]
    features = np.vstack(rows)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def cell_weights(sets: Sequence[str], labels: npt.ArrayLike) -> FloatArray:
    """Equal total weight per (set, label) cell; mean weight 1."""
    keys = [f"{s}{int(y)}" for s, y in zip(sets, np.asarray(labels), strict=True)]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return np.asarray(weights * (len(weights) / weights.sum()), dtype=np.float64)


def fit_cycle_model(
    features: FloatArray, labels: npt.ArrayLike, sets: Sequence[str], c: float = C
) -> CycleModel:
    """Imputation, standardisation and the balanced L2 regression, all on this data."""
    from sklearn.linear_model import LogisticRegression

    medians = np.nanmedian(features, axis=0)
    medians = np.where(np.isfinite(medians), medians, 0.0)
    filled = np.where(np.isfinite(features), features, medians)
    mean, scale = filled.mean(axis=0), filled.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    empty = np.zeros(features.shape[1])
    prep = CycleModel(tuple(cycle_features.feature_names()), medians, mean, scale, empty, 0.0)
    regression = LogisticRegression(C=c, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter at tiny C
        regression.fit(
            prep.standardise(features), np.asarray(labels), sample_weight=cell_weights(sets, labels)
        )
    return CycleModel(
        prep.names, medians, mean, scale, regression.coef_[0].astype(np.float64),
        float(regression.intercept_[0]),
    )  # fmt: skip


def _metrics(labels: list[int], scores: list[float], threshold: float) -> dict[str, Any]:
    m = binary_metrics(labels, scores, threshold)
    return {k: m[k] for k in ("auc", "macc", "sensitivity", "specificity")} | {
        "threshold": threshold
    }


SCORES = ("cnn", "cycle", "fused")


def _runs_by_holdout(run_dirs: list[Path]) -> dict[str, list[Path]]:
    """Group LOSO runs by their held-out set; runs of one set must share one split."""
    groups: dict[str, list[Path]] = {}
    for run in run_dirs:
        (holdout,) = json.loads((run / "report.json").read_text())["holdout_sets"]
        groups.setdefault(holdout, []).append(run)
    for holdout, runs in groups.items():
        splits = {(run / "split.json").read_text() for run in runs}
        if len(splits) != 1:
            raise SystemExit(f"--loso: the runs holding out {holdout} have different splits")
    return groups


def ensemble_scores(run_dirs: list[Path]) -> tuple[dict[str, float], float | None]:
    """The CNN score of one or several runs of one split: sigmoid of the mean logit.

    Returns:
        (record name -> score, the run's own validation threshold for a single run,
        else None: an ensemble's threshold is chosen on validation like the others').
    """
    per_run = [json.loads((run / "scores.json").read_text()) for run in run_dirs]
    if len(per_run) == 1:
        report = json.loads((run_dirs[0] / "report.json").read_text())
        return per_run[0], float(report["threshold"])
    return {name: fuse(*(run[name] for run in per_run)) for name in per_run[0]}, None


MIN_PER_DIAGNOSIS = 5  # fewer recordings of one diagnosis give no meaningful AUC


def by_diagnosis(
    names: list[str], labels: list[int], scores: list[float], diagnosis_of: dict[str, str]
) -> dict[str, dict[str, float]]:
    """AUC of each abnormal diagnosis against the same recordings' normal ones.

    Args:
        names: record names of one held-out set.
        labels: their labels (1 abnormal).
        scores: their scores.
        diagnosis_of: record name -> diagnosis (PhysioNet's appendix).

    Returns:
        ``{diagnosis: {"n": count, "auc": AUC}}`` for diagnoses with at least
        :data:`MIN_PER_DIAGNOSIS` abnormal recordings (empty without normal ones).
    """
    normal = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not normal:
        return {}
    groups: dict[str, list[float]] = {}
    for name, label, score in zip(names, labels, scores, strict=True):
        if label == 1 and name in diagnosis_of:
            groups.setdefault(diagnosis_of[name], []).append(score)
    return {
        diagnosis: {
            "n": len(abnormal),
            "auc": auc_score([1] * len(abnormal) + [0] * len(normal), abnormal + normal),
        }
        for diagnosis, abnormal in sorted(groups.items())
        if len(abnormal) >= MIN_PER_DIAGNOSIS
    }


def loso_fusion(
    run_dirs: list[Path],
    records: list[Record],
    features: FloatArray,
    diagnosis_of: dict[str, str] | None = None,
) -> dict[str, Any]:
    """CNN, regression and fusion on each run's held-out set (thresholds from validation).

    Several runs holding out the same set (same seed, so the same split) are one CNN
    ensemble: their logits are averaged before the fusion, as two shipped nets would be.

    Returns:
        ``{set: {"n", "n_abnormal", "runs", "cnn"|"cycle"|"fused": metrics (with
        ``by_diagnosis`` where ``diagnosis_of`` names the set's records)}, ...,
        "mean_macc_<score>": mean over the held-out sets}`` (as stored in metrics.json).
    """
    index = {r.name: i for i, r in enumerate(records)}
    per_holdout: dict[str, Any] = {}
    for holdout, runs in _runs_by_holdout(run_dirs).items():
        split: dict[str, str] = json.loads((runs[0] / "split.json").read_text())
        cnn, cnn_threshold = ensemble_scores(runs)
        rows = {p: [index[n] for n, q in split.items() if q == p] for p in ("train", "val", "test")}
        model = fit_cycle_model(
            features[rows["train"]],
            [records[i].label for i in rows["train"]],
            [records[i].set_name for i in rows["train"]],
        )
        scores: dict[str, dict[str, list[float]]] = {}
        for part in ("val", "test"):
            net = [cnn[records[i].name] for i in rows[part]]
            lr = [model.probability(features[i]) for i in rows[part]]
            fused = [fuse(a, b) for a, b in zip(net, lr, strict=True)]
            scores[part] = {"cnn": net, "cycle": lr, "fused": fused}
        val_labels = [records[i].label for i in rows["val"]]
        val_sets = [records[i].set_name for i in rows["val"]]
        test_labels = [records[i].label for i in rows["test"]]
        test_names = [records[i].name for i in rows["test"]]
        result: dict[str, Any] = {
            "n": len(test_labels),
            "n_abnormal": int(sum(test_labels)),
            "runs": [str(run) for run in runs],
        }
        for name in SCORES:
            if name == "cnn" and cnn_threshold is not None:  # the run's own threshold
                threshold = cnn_threshold
            else:
                threshold, _ = best_macro_threshold(val_labels, scores["val"][name], val_sets)
            result[name] = _metrics(test_labels, scores["test"][name], threshold)
            diagnosed = by_diagnosis(
                test_names, test_labels, scores["test"][name], diagnosis_of or {}
            )
            if diagnosed:
                result[name]["by_diagnosis"] = diagnosed
        per_holdout[holdout] = result
    out: dict[str, Any] = dict(per_holdout)
    for name in SCORES:
        maccs = [r[name]["macc"] for r in per_holdout.values()]
        out[f"mean_macc_{name}"] = round(float(np.mean(maccs)), 4)
    return out


def export(records: list[Record], features: FloatArray, data_dir: Path) -> dict[str, Any]:
    """Fit on the shipped split's training part; fused thresholds on its validation part."""
    from model.data import find_audio
    from signals.audio import WORKING_RATE, load_audio
    from signals.scoring import CONFIG_NAME, AbnormalityScorer

    split: dict[str, str] = json.loads((MODEL_DIR / "split.json").read_text())
    train = [i for i, r in enumerate(records) if split.get(r.name) == "train"]
    val = [i for i, r in enumerate(records) if split.get(r.name) == "val"]
    model = fit_cycle_model(
        features[train], [records[i].label for i in train], [records[i].set_name for i in train]
    )
    cycle = [model.probability(features[i]) for i in val]
    config = json.loads((MODEL_DIR / CONFIG_NAME).read_text())
    signals = []
    for i in val:
        rec = records[i]
        directory = data_dir / "physionet2016" / f"training-{rec.set_name}"
        signals.append(load_audio(find_audio(directory, rec.name)))
    thresholds: dict[str, float] = {}
    for name in config["thresholds"]:
        scorer = AbnormalityScorer(MODEL_DIR / name, config)
        cnn = [scorer.score_recording(x, WORKING_RATE) for x in signals]
        fused = [fuse(a, b) for a, b in zip(cnn, cycle, strict=True)]
        thresholds[name], _ = best_macro_threshold(
            [records[i].label for i in val], fused, [records[i].set_name for i in val]
        )
    shipped = {
        "model": model.to_json(),
        "fusion": "sigmoid of the mean of the CNN's and the regression's logits",
        "fused_thresholds": thresholds,
        "threshold_rule": config.get("threshold_rule", ""),
        "C": C,
    }
    (MODEL_DIR / EXPORT_NAME).write_text(json.dumps(shipped, indent=1) + "\n")
    return shipped


def _parse(argv: list[str]) -> argparse.Namespace:
    p = cli_help.parser(prog="hrmon train cycle", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument(
        "--loso",
        type=Path,
        nargs="*",
        default=[],
        metavar="RUN_DIR",
        help="LOSO runs to evaluate; several runs of one held-out set are one ensemble",
    )
    p.add_argument(
        "--extra-set",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="an extra labelled set, as for hrmon train (the --loso runs' own are added)",
    )
    p.add_argument("--export", action="store_true", help="write model/cycle_model.json")
    p.add_argument("--save-metrics", metavar="KEY", help="store the LOSO result in metrics.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """Entry point of ``hrmon train cycle``."""
    args = _parse(argv)
    extra_sets = parse_extra_sets(args.extra_set)
    for run in args.loso:
        report = json.loads((run / "report.json").read_text())
        extra_sets |= {name: Path(f) for name, f in report.get("extra_sets", {}).items()}
    records = index_records(args.data_dir, extra_sets)
    features = load_cycle_features(records, args.cache_dir)
    if args.loso:
        result = loso_fusion(args.loso, records, features, diagnoses(args.data_dir))
        held_out = {k: v for k, v in result.items() if not k.startswith("mean_macc_")}
        for holdout, row in held_out.items():
            cells = "  ".join(
                f"{name} AUC {row[name]['auc']:.3f} MAcc {row[name]['macc']:.3f}" for name in SCORES
            )
            print(f"holdout {holdout} (n={row['n']}): {cells}")
            for diagnosis, fused in row["fused"].get("by_diagnosis", {}).items():
                cells = "  ".join(
                    f"{name} {row[name]['by_diagnosis'][diagnosis]['auc']:.3f}" for name in SCORES
                )
                print(f"  {diagnosis} (n={fused['n']}) AUC against normal: {cells}")
        print("mean MAcc: " + "  ".join(f"{n} {result[f'mean_macc_{n}']:.3f}" for n in SCORES))
        if args.save_metrics:
            result["argv"] = ["hrmon", "train", "cycle", *argv]
            merge_metrics(MODEL_DIR / "metrics.json", args.save_metrics, result)
    if args.export:
        shipped = export(records, features, args.data_dir)
        print(f"wrote {MODEL_DIR / EXPORT_NAME}: fused thresholds {shipped['fused_thresholds']}")
    return 0
