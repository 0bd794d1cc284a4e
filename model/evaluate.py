"""Metrics of the challenge and ``hrmon eval model`` (numpy only, shared by train and eval).

Sensitivity = TP / (TP + FN) on abnormal recordings, specificity = TN / (TN + FP) on
normal ones, MAcc = their mean (the 2016 challenge's score, without its "unsure" class),
AUC by the rank-sum (Mann-Whitney) formula with ties counted as one half.

Also the ``hrmon eval model`` command (:func:`main`). numpy only at import time: the
metrics are shared with training, the command runs the device path (onnxruntime).

About 420 lines: the metrics, the per-set and macro tables, the ROC plots and the
``hrmon eval model`` CLI of one evaluation.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import cli_help


def auc_score(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve.

    Args:
        labels: 1 abnormal, 0 normal.
        scores: higher = more abnormal.

    Returns:
        AUC in [0, 1], or NaN if one class is absent.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(
    labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float
) -> dict[str, Any]:
    """Sensitivity, specificity, MAcc, AUC and the confusion matrix at ``threshold``.

    A recording is called abnormal when ``score >= threshold``.

    Args:
        labels: 1 abnormal, 0 normal.
        scores: recording scores in [0, 1].
        threshold: decision threshold.

    Returns:
        ``n, n_abnormal, n_normal, tp, fn, tn, fp, sensitivity, specificity, macc, auc,
        threshold`` (NaN where a class is absent).
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int(((y == 1) & pred).sum())
    fn = int(((y == 1) & ~pred).sum())
    tn = int(((y == 0) & ~pred).sum())
    fp = int(((y == 0) & pred).sum())
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    return {
        "n": len(y),
        "n_abnormal": tp + fn,
        "n_normal": tn + fp,
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
        "sensitivity": sens,
        "specificity": spec,
        "macc": (sens + spec) / 2.0,
        "auc": auc_score(y, s),
        "threshold": float(threshold),
    }


def best_threshold(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[float, float]:
    """The threshold maximising MAcc (used on validation data only).

    Candidates are midpoints between consecutive distinct scores; among equal MAcc the
    one closest to 0.5 wins, to keep the choice stable.

    Args:
        labels: 1 abnormal, 0 normal (both classes present).
        scores: recording scores.

    Returns:
        ``(threshold, macc_at_threshold)``.
    """
    s = np.unique(np.asarray(scores, dtype=np.float64))
    candidates = np.concatenate([[0.0], (s[1:] + s[:-1]) / 2.0, [1.0]]) if len(s) > 1 else s
    best = (0.5, -1.0)
    for t in candidates:
        m = binary_metrics(labels, scores, float(t))["macc"]
        if m > best[1] + 1e-12 or (abs(m - best[1]) <= 1e-12 and abs(t - 0.5) < abs(best[0] - 0.5)):
            best = (float(t), float(m))
    return best


NOT_AVERAGED: tuple[str, ...] = ("c",)
"""Sets reported but not averaged into the macro MAcc: training-c has 31 recordings.
Every other set present counts: a, b, d, e, f, and any extra set trained with."""


def macro_macc(
    labels: npt.ArrayLike, scores: npt.ArrayLike, sets: list[str], threshold: float
) -> float:
    """Mean over the sets present (but :data:`NOT_AVERAGED`) of each set's MAcc at one
    shared threshold.

    A set counts only where both classes are present (its MAcc is defined).

    Args:
        labels: 1 abnormal, 0 normal.
        scores: recording scores.
        sets: set letter of each recording (``a`` ... ``f``).
        threshold: decision threshold.

    Returns:
        The macro MAcc, or NaN if no set qualifies.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    names = np.asarray(sets)
    per_set = {
        name: binary_metrics(y[names == name], s[names == name], threshold)
        for name in sorted(set(names.tolist()))
        if name not in NOT_AVERAGED
    }
    return macro_of(per_set)


def best_macro_threshold(
    labels: npt.ArrayLike, scores: npt.ArrayLike, sets: list[str]
) -> tuple[float, float]:
    """The threshold maximising the macro MAcc over sets (validation data only).

    One threshold for every stethoscope, chosen so that no single large set (training-e
    is 65 % of the data) decides it alone. Candidates: 200 quantiles of the scores.

    Args:
        labels: 1 abnormal, 0 normal.
        scores: recording scores.
        sets: set letter of each recording.

    Returns:
        ``(threshold, macro_macc_at_threshold)``; ties go to the candidate nearest 0.5.
    """
    s = np.asarray(scores, dtype=np.float64)
    candidates = np.unique(np.quantile(s, np.linspace(0.0, 1.0, 201)))
    best = (0.5, -1.0)
    for t in candidates:
        m = macro_macc(labels, s, sets, float(t))
        if m > best[1] + 1e-12 or (abs(m - best[1]) <= 1e-12 and abs(t - 0.5) < abs(best[0] - 0.5)):
            best = (float(t), float(m))
    return best


def merge_metrics(path: Path, key: str, value: Any) -> None:
    """Set ``key`` in the JSON object at ``path`` (created if missing), keeping other keys.

    Args:
        path: e.g. ``model/metrics.json``.
        key: top-level key to (re)write.
        value: JSON-serialisable value.
    """
    data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _directories(root: Path) -> list[Path]:
    """``root`` itself if it holds REFERENCE.csv, else its sub-folders that do."""
    if (root / "REFERENCE.csv").is_file():
        return [root]
    subs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "REFERENCE.csv").is_file())
    if not subs:
        raise FileNotFoundError(f"{root}: no REFERENCE.csv here or in its sub-folders")
    return subs


def _row(key: str, m: dict[str, Any]) -> str:
    return (
        f"{key:8s} {m['n']:5d} {m['sensitivity']:6.3f} {m['specificity']:6.3f} "
        f"{m['macc']:6.3f} {m['auc']:6.3f}  {m['tp']}/{m['fn']}/{m['tn']}/{m['fp']}"
    )


def set_key(folder_name: str) -> str:
    """``training-a`` -> ``a``; any other folder keeps its name."""
    return folder_name.removeprefix("training-")


def macro_sets(per_set: dict[str, dict[str, Any]]) -> list[str]:
    """Sets averaged into the macro MAcc: all but :data:`NOT_AVERAGED`, else all.

    Only sets with both classes count (their MAcc is defined).
    """
    defined = [k for k, m in per_set.items() if m["n_abnormal"] and m["n_normal"]]
    chosen = [k for k in defined if k not in NOT_AVERAGED]
    return chosen if chosen else defined


def macro_of(per_set: dict[str, dict[str, Any]]) -> float:
    """Mean MAcc over :func:`macro_sets` (NaN if none qualifies)."""
    chosen = macro_sets(per_set)
    return float(np.mean([per_set[k]["macc"] for k in chosen])) if chosen else float("nan")


def roc_points(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Any, Any]:
    """False- and true-positive rates at every distinct threshold, from (0,0) to (1,1)."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each run of ties
    tp = np.cumsum(y)[last]
    fp = np.cumsum(1 - y)[last]
    n_pos, n_neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def roc_plots(
    out_dir: Path, labels: Any, scores: Any, keys: list[str], threshold: float
) -> list[Path]:
    """One ROC curve PNG per set with both classes, and ``roc-overall.png``.

    Args:
        out_dir: created if missing.
        labels: 1 abnormal, 0 normal.
        scores: recording scores.
        keys: set of each recording.
        threshold: the model's operating point, marked on each curve.

    Returns:
        The files written.

    Raises:
        SystemExit: if matplotlib (the ``bench`` extra) is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plots needs matplotlib: pip install 'hrmon[bench]'") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = {k: np.asarray([x == k for x in keys]) for k in sorted(set(keys))}
    groups["overall"] = np.ones(len(keys), dtype=bool)
    written = []
    for key, mask in groups.items():
        y, s = np.asarray(labels)[mask], np.asarray(scores)[mask]
        if not (y == 1).any() or not (y == 0).any():
            continue
        fpr, tpr = roc_points(y, s)
        m = binary_metrics(y, s, threshold)
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.plot(fpr, tpr, color="#1f5fa8", label=f"AUC {m['auc']:.3f}")
        ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
        ax.plot(
            1 - m["specificity"],
            m["sensitivity"],
            "o",
            color="#c0392b",
            label=f"threshold {threshold:.3f}: MAcc {m['macc']:.3f}",
        )
        ax.set(
            xlabel="1 - specificity",
            ylabel="sensitivity",
            xlim=(0, 1),
            ylim=(0, 1.01),
            title=f"{key}: n={m['n']} ({m['n_abnormal']} abnormal)",
        )
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"roc-{key}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


MIN_CROP_S, MAX_CROP_S = 2.0, 3600.0
"""``--crop`` bounds: the device scores nothing shorter than 2 s."""


Judge = Callable[[npt.NDArray[np.float32], str], float | None]
"""(signal at 2 kHz, record name) -> the score the device would send, or None when it
would hold the recording back (``evaluation.device_path``)."""


def main(argv: list[str], judge: Judge | None = None, prog: str = "hrmon eval model") -> int:
    """``hrmon eval model DIR``: score every recording of a PhysioNet-layout folder.

    DIR holds ``REFERENCE.csv`` (``NAME,1|-1``) and ``NAME.wav``/``NAME.flac``, or has
    sub-folders that do (e.g. ``physionet2016/``: then each is reported as a set and all
    together as ``overall``). Audio goes through ``signals.audio.load_audio`` and the CNN
    through ``signals.scoring`` (onnxruntime, no torch), exactly as on the device; a
    recording the device would refuse (``AudioError``) is listed and left out.

    Args:
        argv: ``DIR [--model PATH] [--split FILE --part test] [--crop S] [--json]
            [--save-metrics KEY]``.
        judge: score through this instead of the model alone, counting the recordings it
            holds back (``hrmon eval device-path``: the shipped model, so no ``--model``).
        prog: the command's name in its help.

    Returns:
        0 on success, 2 on a usage error or when nothing could be scored.
    """

    from signals.audio import WORKING_RATE, AudioError, load_audio
    from signals.scoring import AbnormalityScorer

    p = cli_help.parser(prog=prog, description="CNN sensitivity/specificity")
    p.add_argument("dir", type=Path, help="PhysioNet-layout folder (or a folder of them)")
    p.add_argument(
        "--model", type=Path, default=None, help="ONNX model (default: the shipped int8 model)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="override the model's validation-chosen threshold",
    )
    p.add_argument(
        "--split",
        type=Path,
        default=None,
        help="JSON record -> part (e.g. model/split.json) to keep only --part",
    )
    p.add_argument("--part", default="test", help="part kept with --split (default: test)")
    p.add_argument(
        "--crop",
        type=float,
        default=None,
        metavar="SECONDS",
        help="score only the first SECONDS of each recording, as a short recording would "
        "be (at least 2, the device's floor)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument(
        "--save-metrics",
        metavar="KEY",
        default=None,
        help="also store the result under KEY in --metrics-file",
    )
    p.add_argument("--metrics-file", type=Path, default=Path(__file__).parent / "metrics.json")
    p.add_argument(
        "--plots",
        type=Path,
        default=None,
        metavar="DIR",
        help="write one ROC curve per set (and overall) as PNG into DIR",
    )
    args = p.parse_args(argv)
    if judge is not None and args.model is not None:
        p.error("the device judges with the shipped model: drop --model")
    if args.crop is not None and not MIN_CROP_S <= args.crop <= MAX_CROP_S:
        p.error(f"--crop: between {MIN_CROP_S:g} and {MAX_CROP_S:g} seconds")

    from model.data import find_audio, read_reference

    scorer = (
        AbnormalityScorer.from_default()
        if args.model is None
        else AbnormalityScorer.from_path(args.model)
    )
    threshold = scorer.threshold if args.threshold is None else args.threshold
    keep: dict[str, str] | None = (
        json.loads(args.split.read_text()) if args.split is not None else None
    )
    try:
        dirs = _directories(args.dir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    labels: list[int] = []
    scores: list[float] = []
    sets: list[str] = []
    refused: list[str] = []
    held_back: Counter[str] = Counter()
    for d in dirs:
        for name, label in read_reference(d):
            if keep is not None and keep.get(name) != args.part:
                continue
            try:
                signal = load_audio(find_audio(d, name))
                if args.crop is not None:  # the device checks what it scores: so here
                    signal = signal[: round(args.crop * WORKING_RATE)]
                score = (
                    scorer.score_recording(signal, WORKING_RATE)
                    if judge is None
                    else judge(signal, name)  # None: held back
                )
            except (AudioError, FileNotFoundError) as exc:
                refused.append(f"{d.name}/{name}: {exc}")
                continue
            if score is None:
                held_back[set_key(d.name)] += 1
                continue
            labels.append(label)
            scores.append(score)
            sets.append(d.name)
    if not labels:
        print("error: no recording could be scored", file=sys.stderr)
        return 2
    y, s = np.asarray(labels), np.asarray(scores)
    result: dict[str, Any] = binary_metrics(y, s, threshold)
    result.update(model=scorer.model_name, refused=len(refused), crop_s=args.crop)
    keys = [set_key(name) for name in sets]
    per_set: dict[str, dict[str, Any]] = {}
    for key in sorted(set(keys)):
        mask = np.asarray([k == key for k in keys])
        per_set[key] = binary_metrics(y[mask], s[mask], threshold)
        if judge is not None:
            per_set[key]["held_back"] = held_back[key]
    result["per_set"] = per_set
    if judge is not None:
        result["held_back"] = sum(held_back.values())
    result["macro_macc"] = macro_of(per_set)
    result["macro_sets"] = macro_sets(per_set)
    print(f"{'set':8s} {'n':>5s} {'sens':>6s} {'spec':>6s} {'MAcc':>6s} {'AUC':>6s}  TP/FN/TN/FP")
    for key, m in per_set.items():
        print(_row(key, m))
    print(_row("overall", result))
    print(
        f"{'macro':8s} MAcc {result['macro_macc']:.3f} over sets {','.join(result['macro_sets'])}"
    )
    if args.plots is not None:
        written = roc_plots(args.plots, y, s, keys, threshold)
        print(f"ROC curves: {', '.join(str(p) for p in written)}")
    print(
        f"model {scorer.model_name}, threshold {threshold:.4f}, "
        f"{len(refused)} recording(s) refused as bad audio"
    )
    if judge is not None:
        print(
            f"{sum(held_back.values())} recording(s) held back (no rate and not vouched for "
            "by the quality gate, or held back by it): "
            + ", ".join(f"{k} {n}" for k, n in sorted(held_back.items()))
        )
    for line in refused:
        print(f"  refused {line}")
    if args.save_metrics:
        merge_metrics(
            args.metrics_file,
            args.save_metrics,
            {**result, "argv": [*prog.split(), *argv]},
        )
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0
