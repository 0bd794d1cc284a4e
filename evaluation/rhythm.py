"""``hrmon eval rhythm DIR [--json] [--window S]``: the irregularity index against references.

DIR is one of three layouts, told apart by what it holds:

* **PhysioNet/CinC 2017** (``REFERENCE.csv`` of ``NAME,label`` with N/A/O/~, ``NAME.hea``
  + ``NAME.mat``): one judgement per recording. AF ("A") against non-AF (N and O), and
  separately against N alone; noisy "~" records count neither way: we report how many
  the quality gate refused. No reference heart rate (``hr_mae_bpm`` null). The
  ``dev``/``holdout`` blocks split the records by row (even rows / odd rows of
  REFERENCE.csv): the bSQI gate's threshold was chosen looking at the even rows only.
* **WFDB with beat annotations** (``NAME.atr``, e.g. MIT-BIH): ``--window`` s windows;
  reference irregular = AF/AFL rhythm ("(AFIB", "(AFL" in aux_note) over most of the
  window, reference heart rate = 60 / mean interval of the annotated beats; predicted
  from the R-peaks of :func:`signals.cardiac_input.beat_times` in the window.
* **PhysioNet 2016 heart sounds** (``training-X/`` sets and
  ``annotations/hand_corrected/training-X/NAME_StateAns.mat``): S1-S1 intervals of the
  HSMM segmenter against the hand-corrected S1s, and the index's distribution there
  (no rhythm labels; most should be regular). ``--limit`` recordings per set.

The threshold is :data:`signals.rhythm.DEFAULT_IRREGULARITY_THRESHOLD` (from the
literature), never fitted here.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

import cli_help
from signals.audio import AudioError, load_audio
from signals.cardiac_input import (
    SECOND_ECG_DETECTOR,
    THIRD_ECG_DETECTOR,
    SignalFileError,
    analyse_rhythm,
    beat_times,
    ecg_rhythm,
    load_cardiac,
)
from signals.heart_sound_rhythm import rhythm_of_states, s1_times
from signals.rhythm import (
    DEFAULT_IRREGULARITY_THRESHOLD,
    RhythmEstimate,
)
from signals.segmentation import segment

FloatArray = npt.NDArray[np.float64]

AF_RHYTHMS = ("(AFIB", "(AFL")
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ")
"""MIT-BIH annotation codes that are beats (the rest mark rhythm, noise, comments)."""
AF_MAJORITY = 0.5
S1_MATCH_S = 0.1
WITHIN_MS = 50.0


@dataclass
class Confusion:
    """Judgements of one comparison: reference AF or not, predicted irregular or not."""

    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def add(self, af: bool, irregular: bool) -> None:
        if af:
            self.tp += irregular
            self.fn += not irregular
        else:
            self.fp += irregular
            self.tn += not irregular

    @property
    def sensitivity(self) -> float | None:
        return round(self.tp / (self.tp + self.fn), 4) if self.tp + self.fn else None

    @property
    def specificity(self) -> float | None:
        return round(self.tn / (self.tn + self.fp), 4) if self.tn + self.fp else None


@dataclass
class Judged:
    """One recording or window: its reference and the estimate."""

    name: str
    label: str
    estimate: RhythmEstimate
    ref_bpm: float | None = None


@dataclass
class Run:
    """Everything one evaluation collects."""

    items: list[Judged] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _confusions(items: list[Judged]) -> tuple[Confusion, Confusion]:
    """(AF vs N+O, AF vs N) over judged items; labels "A", "N", "O"."""
    vs_all, vs_normal = Confusion(), Confusion()
    for it in items:
        irregular = it.estimate.irregular
        if irregular is None or it.label not in ("A", "N", "O"):
            continue
        vs_all.add(it.label == "A", irregular)
        if it.label in ("A", "N"):
            vs_normal.add(it.label == "A", irregular)
    return vs_all, vs_normal


def _metrics(items: list[Judged]) -> dict[str, Any]:
    vs_all, vs_normal = _confusions(items)
    labels = Counter(it.label for it in items)
    not_judged = Counter(it.label for it in items if it.estimate.index is None)
    errors = [
        abs(it.estimate.bpm - it.ref_bpm)
        for it in items
        if it.ref_bpm is not None and it.estimate.bpm is not None and it.estimate.index is not None
    ]
    return {
        "n": vs_all.tp + vs_all.fn + vs_all.tn + vs_all.fp,
        "sensitivity": vs_all.sensitivity,
        "specificity": vs_all.specificity,
        "specificity_vs_normal": vs_normal.specificity,
        "confusion": {"tp": vs_all.tp, "fn": vs_all.fn, "tn": vs_all.tn, "fp": vs_all.fp},
        "hr_mae_bpm": round(float(np.mean(errors)), 3) if errors else None,
        "hr_n": len(errors),
        "labels": dict(sorted(labels.items())),
        "not_judged": dict(sorted(not_judged.items())),
        "noisy_refused": not_judged.get("~", 0),
        "noisy_judged_irregular": sum(
            1 for it in items if it.label == "~" and it.estimate.irregular
        ),
    }


# --- PhysioNet/CinC 2017 -------------------------------------------------------------------


def read_labels(directory: Path) -> list[tuple[str, str]]:
    """``(name, label)`` rows of a CinC 2017 ``REFERENCE.csv``, in file order."""
    with (directory / "REFERENCE.csv").open(newline="") as fh:
        return [(r[0].strip(), r[1].strip()) for r in csv.reader(fh) if len(r) >= 2 and r[0]]


def is_cinc(directory: Path) -> bool:
    """A CinC 2017-style folder: REFERENCE.csv labels among N, A, O, ~ and WFDB headers."""
    if not (directory / "REFERENCE.csv").is_file():
        return False
    rows = read_labels(directory)
    return bool(rows) and all(label in ("N", "A", "O", "~") for _, label in rows)


def evaluate_cinc(directory: Path) -> tuple[Run, dict[str, Any]]:
    """Judge every recording of a CinC 2017-style folder."""
    run = Run()
    rows = read_labels(directory)
    for name, label in rows:
        try:
            estimate = analyse_rhythm(load_cardiac(directory / f"{name}.hea", kind="ecg"))
        except SignalFileError as exc:
            run.errors[name] = str(exc)
            estimate = RhythmEstimate(None, 0, None, str(exc))
        run.items.append(Judged(name, label, estimate))
    summary = _metrics(run.items)
    summary["hr_mae_bpm"] = None  # CinC 2017 has no reference heart rate
    dev = [it for k, it in enumerate(run.items) if k % 2 == 0]
    hold = [it for k, it in enumerate(run.items) if k % 2 == 1]
    for key, part in (("dev", dev), ("holdout", hold)):
        m = _metrics(part)
        summary[key] = {k: m[k] for k in ("n", "sensitivity", "specificity", "not_judged")}
        summary[key]["specificity_vs_normal"] = m["specificity_vs_normal"]
    return run, summary


# --- WFDB with beat annotations (MIT-BIH) --------------------------------------------------


def _af_mask(samples: npt.NDArray[np.int64], aux: list[str], length: int) -> npt.NDArray[np.bool_]:
    """Per sample: inside an AF/AFL rhythm episode (from the aux_note rhythm changes)."""
    mask = np.zeros(length, dtype=bool)
    current, start = False, 0
    for s, note in zip(samples, aux, strict=True):
        note = note.replace("\x00", "").strip()
        if not note.startswith("("):
            continue
        mask[start:s] = current
        current, start = note.startswith(AF_RHYTHMS), int(s)
    mask[start:] = current
    return mask


def evaluate_wfdb(directory: Path, window_s: float) -> tuple[Run, dict[str, Any]]:
    """Windows of every annotated record (``NAME.atr``) against its annotations."""
    import wfdb

    run = Run()
    for atr in sorted(directory.glob("*.atr")):
        name = atr.stem
        try:
            rec = load_cardiac(directory / f"{name}.hea", kind="ecg")
        except SignalFileError as exc:
            run.errors[name] = str(exc)
            continue
        ann = wfdb.rdann(str(directory / name), "atr")
        samples = np.asarray(ann.sample, dtype=np.int64)
        symbols = list(ann.symbol)
        aux = [str(a or "") for a in (ann.aux_note or [""] * len(symbols))]
        af = _af_mask(samples, aux, rec.signal.size)
        ref_beats = samples[[s in BEAT_SYMBOLS for s in symbols]] / rec.rate
        detected = [beat_times(rec, m) for m in (None, SECOND_ECG_DETECTOR, THIRD_ECG_DETECTOR)]
        n_windows = int(rec.signal.size / rec.rate // window_s)
        for w in range(n_windows):
            lo, hi = w * window_s, (w + 1) * window_s
            a, b = round(lo * rec.rate), round(hi * rec.rate)
            inside = ref_beats[(ref_beats >= lo) & (ref_beats < hi)]
            ref_bpm = 60.0 / float(np.mean(np.diff(inside))) if inside.size >= 3 else None
            beats, second, third = (t[(t >= lo) & (t < hi)] for t in detected)
            estimate = ecg_rhythm(rec.signal, rec.rate, beats, second, third)
            label = "A" if af[a:b].mean() > AF_MAJORITY else "N"
            run.items.append(Judged(f"{name}@{lo:.0f}s", label, estimate, ref_bpm))
    return run, _metrics(run.items)


# --- PhysioNet 2016 heart sounds -----------------------------------------------------------


def interval_errors(found: FloatArray, truth: FloatArray) -> tuple[list[float], int]:
    """Absolute S1-S1 interval errors (s) where both ends of a true interval were found.

    A true interval counts when each of its S1s has a detected S1 within
    :data:`S1_MATCH_S` and those two detections are consecutive (no extra S1 between).

    Returns:
        ``(errors, true intervals)``.
    """
    errors: list[float] = []
    if found.size == 0 or truth.size < 2:
        return errors, max(truth.size - 1, 0)
    nearest = np.abs(found[None, :] - truth[:, None]).argmin(axis=1)
    close = np.abs(found[nearest] - truth) <= S1_MATCH_S
    for i in range(truth.size - 1):
        j, k = nearest[i], nearest[i + 1]
        if close[i] and close[i + 1] and k == j + 1:
            errors.append(abs((found[k] - found[j]) - (truth[i + 1] - truth[i])))
    return errors, truth.size - 1


def _truth_s1(path: Path, n_frames: int) -> FloatArray:
    from evaluation.segmentation import annotated_states

    return s1_times(annotated_states(path, n_frames))


def is_heart_sound_root(directory: Path) -> bool:
    """A PhysioNet 2016 root: hand-corrected annotations next to the sets."""
    return (directory / "annotations" / "hand_corrected").is_dir()


def evaluate_heart_sounds(directory: Path, limit: int | None) -> dict[str, Any]:
    """S1-S1 interval agreement and index distribution on annotated heart sounds."""
    out: dict[str, Any] = {"sets": {}}
    all_err: list[float] = []
    all_idx: list[float | None] = []
    total_true = 0
    ann_root = directory / "annotations" / "hand_corrected"
    for ann_dir in sorted(ann_root.glob("training-*")):
        files = sorted(ann_dir.glob("*_StateAns.mat"))[:limit]
        errs: list[float] = []
        idx: list[float | None] = []
        n_true = 0
        for mat in files:
            name = mat.name.removesuffix("_StateAns.mat")
            audio = directory / ann_dir.name / f"{name}.wav"
            if not audio.is_file():
                audio = audio.with_suffix(".flac")
            try:
                x = load_audio(audio)
            except AudioError:
                idx.append(None)
                continue
            states = segment(x)
            e, t = interval_errors(s1_times(states), _truth_s1(mat, states.size))
            errs += e
            n_true += t
            idx.append(rhythm_of_states(states).index)
        out["sets"][ann_dir.name] = _hs_summary(errs, n_true, idx)
        all_err += errs
        all_idx += idx
        total_true += n_true
    out["all"] = _hs_summary(all_err, total_true, all_idx)
    return out


def _hs_summary(errs: list[float], n_true: int, idx: list[float | None]) -> dict[str, Any]:
    e = np.asarray(errs) * 1000.0
    judged = np.array([v for v in idx if v is not None])
    return {
        "recordings": len(idx),
        "true_intervals": n_true,
        "matched_fraction": round(e.size / n_true, 4) if n_true else None,
        "median_abs_error_ms": round(float(np.median(e)), 1) if e.size else None,
        "within_50ms": round(float(np.mean(e <= WITHIN_MS)), 4) if e.size else None,
        "not_judged": len(idx) - judged.size,
        "irregular_fraction": (
            round(float(np.mean(judged >= DEFAULT_IRREGULARITY_THRESHOLD)), 4)
            if judged.size
            else None
        ),
        "index_quantiles": (
            [round(float(q), 4) for q in np.percentile(judged, [10, 50, 90])]
            if judged.size
            else None
        ),
    }


# --- output ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _table(title: str, summary: dict[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("part", "n judged", "sensitivity", "specificity", "spec. vs N", "not judged"):
        table.add_column(col, justify="left" if col == "part" else "right")
    rows = [("all", summary)] + [(k, summary[k]) for k in ("dev", "holdout") if k in summary]
    for part, s in rows:
        table.add_row(
            part,
            str(s["n"]),
            _fmt(s["sensitivity"]),
            _fmt(s["specificity"]),
            _fmt(s["specificity_vs_normal"]),
            ", ".join(f"{k} {v}" for k, v in s["not_judged"].items()) or "0",
        )
    return table


def _hs_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Heart sounds: segmenter S1-S1 intervals vs hand-corrected S1")
    cols = ("set", "recordings", "matched", "median |err| ms", "within 50 ms", "irregular")
    for col in cols:
        table.add_column(col, justify="left" if col == "set" else "right")
    for name, s in [*summary["sets"].items(), ("all", summary["all"])]:
        table.add_row(
            name,
            str(s["recordings"]),
            _fmt(s["matched_fraction"]),
            _fmt(s["median_abs_error_ms"]),
            _fmt(s["within_50ms"]),
            _fmt(s["irregular_fraction"]),
        )
    return table


def main(argv: list[str]) -> int:
    """Run the evaluation; print a table and, with ``--json``, one JSON line last.

    Args:
        argv: command-line arguments after ``hrmon eval rhythm``.

    Returns:
        0 on success, 2 when DIR is none of the known layouts.
    """
    parser = cli_help.parser(
        prog="hrmon eval rhythm",
        description="Rhythm irregularity index vs AF labels / beat annotations.",
    )
    parser.add_argument("dir", type=Path, help="CinC 2017, WFDB (.atr) or PhysioNet 2016 folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--window", type=float, default=30.0, help="window length, s (WFDB)")
    parser.add_argument(
        "--limit", type=int, default=None, help="heart sounds: at most N recordings per set"
    )
    args = parser.parse_args(argv)
    if args.window < 5.0:
        parser.error("--window must be at least 5 s")
    directory: Path = args.dir
    if not directory.is_dir():
        parser.error(f"{directory}: not a directory")
    console = Console()
    threshold = DEFAULT_IRREGULARITY_THRESHOLD
    summary: dict[str, Any]
    if is_cinc(directory):
        run, summary = evaluate_cinc(directory)
        summary["layout"] = "cinc2017"
        console.print(_table(f"AF vs non-AF per recording (index >= {threshold})", summary))
    elif any(directory.glob("*.atr")):
        run, summary = evaluate_wfdb(directory, args.window)
        summary["layout"] = "wfdb"
        summary["window_s"] = args.window
        console.print(_table(f"AF vs non-AF per {args.window:g} s window", summary))
        console.print(f"heart rate MAE vs annotations: {_fmt(summary['hr_mae_bpm'])} bpm")
    elif is_heart_sound_root(directory):
        summary = evaluate_heart_sounds(directory, args.limit)
        summary["layout"] = "physionet2016"
        summary.update({k: summary["all"][k] for k in ("median_abs_error_ms", "within_50ms")})
        summary.update(n=summary["all"]["recordings"], sensitivity=None, specificity=None)
        summary["hr_mae_bpm"] = None
        console.print(_hs_table(summary))
        run = Run()
    else:
        console.print(
            f"{directory}: neither a CinC 2017 folder (REFERENCE.csv with N/A/O/~), "
            "a WFDB folder with .atr annotations, nor a PhysioNet 2016 root"
        )
        return 2
    summary["threshold"] = threshold
    summary["load_errors"] = len(run.errors)
    for name, why in sorted(run.errors.items())[:10]:
        console.print(f"  {name}: {why}", highlight=False)
    if args.json:
        sys.stdout.flush()
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
