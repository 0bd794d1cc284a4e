"""``hrmon eval heart-rate DIR... [--json]``: PCG heart rate against ground truth.

Each DIR is in PhysioNet 2016 layout: ``REFERENCE.csv`` (``NAME,label``), ``NAME.wav`` or
``NAME.flac``, optionally ``NAME.ecg.flac`` (simultaneous ECG at the same rate), and
hand-corrected states in ``DIR/../annotations/hand_corrected/<DIR name>/NAME_StateAns.mat``
(or under ``--annotations``).

Ground truth, over exactly the span the PCG estimate covers (the whole recording, or one
window):

* ECG: R-peaks by neurokit2 (``ecg_clean`` + ``ecg_peaks``, method "neurokit"); heart
  rate = 60 / median RR. The ECG is only trusted where it is itself clean: at least 3 of
  5 neurokit2 R-peak detectors (neurokit, Pan-Tompkins, Hamilton, Elgendi, Engelse-
  Zeelenberg) give a whole-recording rate within 2 bpm of their median. Records whose
  ECG fails this are counted (``ecg_untrusted``) and left out of the ECG metrics; this
  is decided from the ECG alone, never from the PCG estimate.
* S1: 60 / median interval between consecutive hand-annotated S1 onsets.

Metrics are over records (or windows) with ground truth: ``usable_fraction`` is the
share the estimator marks usable (unreadable audio counts as unusable), and the errors
(MAE, RMSE, within +-5 bpm) are over the usable ones.

neurokit2 is imported lazily, only here: it is an evaluation extra, not a device library.

About 430 lines: ECG ground truth, the per-recording comparison, the tables and the CLI
of one evaluation; nothing here is used at run time.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import cli_help
from signals.audio import WORKING_RATE, AudioError, load_audio
from signals.heart_rate import HeartRateEstimate, estimate_heart_rate, estimate_windows

IntArray = npt.NDArray[np.int64]

ECG_METHODS = ("neurokit", "pantompkins1985", "hamilton2002", "elgendi2010", "engzeemod2012")
ECG_AGREE_BPM = 2.0
ECG_AGREE_MIN = 3
MIN_EVENTS = 3  # beats needed in a span for a ground-truth rate (two intervals)


@dataclass
class Truth:
    """Beat times (samples at the recording's rate) from one ground-truth source."""

    kind: str  # "ecg" or "s1"
    beats: IntArray
    rate: int


@dataclass
class Pair:
    """One estimate paired with its ground truth."""

    record: str
    group: str
    truth_bpm: float
    estimate: HeartRateEstimate


@dataclass
class Tally:
    """Pairs of one group (a set, or all), for one truth source and one granularity."""

    pairs: list[Pair] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Return n, usable_fraction, mae_bpm, rmse_bpm, within_5bpm (None when empty)."""
        n = len(self.pairs)
        used = [p for p in self.pairs if p.estimate.usable and p.estimate.bpm is not None]
        err = np.array([abs(p.estimate.bpm - p.truth_bpm) for p in used if p.estimate.bpm])
        out: dict[str, Any] = {"n": n, "n_usable": len(used)}
        out["usable_fraction"] = round(len(used) / n, 4) if n else None
        if err.size:
            out["mae_bpm"] = round(float(err.mean()), 3)
            out["rmse_bpm"] = round(float(np.sqrt(np.mean(err**2))), 3)
            out["median_abs_error_bpm"] = round(float(np.median(err)), 3)
            out["within_5bpm"] = round(float(np.mean(err <= 5.0)), 4)
        else:
            out.update(mae_bpm=None, rmse_bpm=None, median_abs_error_bpm=None, within_5bpm=None)
        return out


def rate_from_beats(beats: IntArray, rate: int, start: int = 0, stop: int | None = None) -> float:
    """Heart rate (bpm) as 60 / median interval of the beats inside ``[start, stop)``.

    Args:
        beats: sorted beat times, samples.
        rate: sample rate, Hz.
        start: first sample of the span.
        stop: end of the span (exclusive); None for no end.

    Returns:
        The rate, or NaN with fewer than :data:`MIN_EVENTS` beats in the span.
    """
    inside = beats[
        (beats >= start) & (beats < (stop if stop is not None else np.iinfo(np.int64).max))
    ]
    if inside.size < MIN_EVENTS:
        return math.nan
    return 60.0 * rate / float(np.median(np.diff(inside)))


def ecg_truth(path: Path) -> tuple[Truth | None, str | None]:
    """R-peaks of a simultaneous ECG, if the ECG is trustworthy.

    Args:
        path: ``NAME.ecg.flac``.

    Returns:
        ``(truth, None)``, or ``(None, why)`` when the ECG is unreadable or untrusted.
    """
    import neurokit2 as nk  # evaluation extra only

    try:
        ecg, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        return None, f"unreadable ECG ({exc})"
    signal = ecg[:, 0]
    rates: dict[str, float] = {}
    peaks: dict[str, IntArray] = {}
    for method in ECG_METHODS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clean = nk.ecg_clean(signal, sampling_rate=rate, method=method)
                _, info = nk.ecg_peaks(clean, sampling_rate=rate, method=method)
            found = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        except Exception:  # a detector failing on a bad ECG counts as a vote against it
            found = np.zeros(0, dtype=np.int64)
        peaks[method] = np.sort(found)
        rates[method] = rate_from_beats(peaks[method], rate)
    values = np.array(list(rates.values()))
    median = float(np.nanmedian(values)) if np.isfinite(values).any() else math.nan
    agreeing = int(np.sum(np.abs(values - median) <= ECG_AGREE_BPM))
    if agreeing < ECG_AGREE_MIN or not math.isfinite(rates["neurokit"]):
        return None, f"ECG untrusted ({agreeing}/{len(ECG_METHODS)} R-peak detectors agree)"
    if abs(rates["neurokit"] - median) > ECG_AGREE_BPM:
        return None, "ECG untrusted (neurokit disagrees with the other detectors)"
    return Truth("ecg", peaks["neurokit"], int(rate)), None


def _unwrap(value: Any) -> Any:
    while isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    return value


def s1_truth(path: Path, rate: int = WORKING_RATE) -> Truth | None:
    """S1 onsets from a PhysioNet ``NAME_StateAns.mat`` hand-corrected annotation.

    Args:
        path: the ``.mat`` file.
        rate: the annotation's sample rate (2000 Hz for PhysioNet 2016).

    Returns:
        The S1 onsets, or None when the file holds too few.
    """
    from scipy.io import loadmat

    table = loadmat(str(path))["state_ans"]
    onsets = [int(_unwrap(row[0])) for row in table if str(_unwrap(row[1])) == "S1"]
    beats = np.array(sorted(onsets), dtype=np.int64)
    return Truth("s1", beats, rate) if beats.size >= MIN_EVENTS else None


def read_reference(directory: Path) -> list[tuple[str, str]]:
    """Records and labels of a PhysioNet-layout directory.

    Args:
        directory: holds ``REFERENCE.csv``.

    Returns:
        ``(name, "abnormal" | "normal")`` per row, in file order.

    Raises:
        FileNotFoundError: no ``REFERENCE.csv``.
    """
    rows = []
    with (directory / "REFERENCE.csv").open(newline="") as fh:
        for row in csv.reader(fh):
            if row and row[0].strip():
                label = "abnormal" if row[1].strip() == "1" else "normal"
                rows.append((row[0].strip(), label))
    return rows


def _audio_path(directory: Path, name: str) -> Path:
    for ext in (".wav", ".flac"):
        if (directory / f"{name}{ext}").is_file():
            return directory / f"{name}{ext}"
    return directory / f"{name}.wav"


def _annotation_dir(directory: Path, override: Path | None) -> Path:
    if override is not None:
        nested = override / directory.name
        return nested if nested.is_dir() else override
    return directory.parent / "annotations" / "hand_corrected" / directory.name


def _failed(reason: str, seconds: float) -> HeartRateEstimate:
    return HeartRateEstimate(None, 0.0, False, reason, 0.0, seconds)


@dataclass
class Results:
    """Everything the run collects, keyed by (truth kind, granularity)."""

    tallies: dict[tuple[str, str, str], Tally] = field(default_factory=dict)
    ecg_untrusted: int = 0
    load_errors: dict[str, str] = field(default_factory=dict)
    records: int = 0

    def add(self, truth: str, level: str, group: str, pair: Pair) -> None:
        for g in (group, "all"):
            self.tallies.setdefault((truth, level, g), Tally()).pairs.append(pair)


def evaluate_record(
    directory: Path,
    name: str,
    annotations: Path,
    results: Results,
    *,
    use_ecg: bool,
    window_s: float,
) -> None:
    """Estimate one record and pair it with every ground truth it has.

    Args:
        directory: the set's directory.
        name: record name.
        annotations: directory of ``NAME_StateAns.mat`` files.
        results: accumulator.
        use_ecg: compute ECG ground truth where ``NAME.ecg.flac`` exists.
        window_s: streaming window length (hop = window) for window-level metrics.
    """
    group = directory.name
    results.records += 1
    truths: list[Truth] = []
    ecg_path = directory / f"{name}.ecg.flac"
    if use_ecg and ecg_path.is_file():
        truth, _why = ecg_truth(ecg_path)
        if truth is None:
            results.ecg_untrusted += 1
        else:
            truths.append(truth)
    mat = annotations / f"{name}_StateAns.mat"
    if mat.is_file():
        s1 = s1_truth(mat)
        if s1 is not None:
            truths.append(s1)
    if not truths:
        return
    try:
        signal = load_audio(_audio_path(directory, name))
    except AudioError as exc:
        results.load_errors[f"{group}/{name}"] = str(exc)
        whole = _failed(str(exc), 0.0)
        for truth in truths:
            bpm = rate_from_beats(truth.beats, truth.rate)
            if math.isfinite(bpm):
                results.add(truth.kind, "recording", group, Pair(name, group, bpm, whole))
        return
    whole = estimate_heart_rate(signal)
    windows = estimate_windows(signal, window_s=window_s, hop_s=window_s)
    for truth in truths:
        scale = truth.rate / WORKING_RATE
        bpm = rate_from_beats(truth.beats, truth.rate, 0, round(len(signal) * scale))
        if math.isfinite(bpm):
            results.add(truth.kind, "recording", group, Pair(name, group, bpm, whole))
        for w in windows:
            start, stop = round(w.start_s * truth.rate), round(w.end_s * truth.rate)
            wbpm = rate_from_beats(truth.beats, truth.rate, start, stop)
            if math.isfinite(wbpm):
                results.add(truth.kind, "window", group, Pair(name, group, wbpm, w))


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def _table(results: Results, truth: str, groups: Iterable[str]) -> Table:
    title = {"ecg": "vs ECG R-peaks", "s1": "vs hand-corrected S1 annotations"}[truth]
    table = Table(title=f"PCG heart rate {title}")
    for col in ("set", "level", "n", "usable", "MAE bpm", "RMSE bpm", "within 5 bpm"):
        table.add_column(col, justify="left" if col in ("set", "level") else "right")
    for g in groups:
        for level in ("recording", "window"):
            tally = results.tallies.get((truth, level, g))
            if tally is None:
                continue
            s = tally.summary()
            table.add_row(
                g,
                level,
                str(s["n"]),
                _fmt(s["usable_fraction"], ".1%"),
                _fmt(s["mae_bpm"], ".2f"),
                _fmt(s["rmse_bpm"], ".2f"),
                _fmt(s["within_5bpm"], ".1%"),
            )
    return table


def _summary(results: Results, primary: str, groups: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"truth": primary, "records": results.records}
    head = results.tallies.get((primary, "recording", "all"), Tally()).summary()
    out.update(head)
    for truth in ("ecg", "s1"):
        block: dict[str, Any] = {}
        for level in ("recording", "window"):
            per = {
                g: results.tallies[(truth, level, g)].summary()
                for g in [*groups, "all"]
                if (truth, level, g) in results.tallies
            }
            if per:
                block[level] = per
        if block:
            out[truth] = block
    out["ecg_untrusted"] = results.ecg_untrusted
    out["load_errors"] = len(results.load_errors)
    return out


def main(argv: list[str]) -> int:
    """Run the evaluation; print per-set tables and, with ``--json``, a JSON last line.

    Args:
        argv: command-line arguments after ``hrmon eval heart-rate``.

    Returns:
        Process exit status: 0 on success, 2 on bad arguments or no ground truth.
    """
    parser = cli_help.parser(
        prog="hrmon eval heart-rate",
        description="PCG heart-rate accuracy against ECG R-peaks and/or S1 annotations.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="PhysioNet-layout set directories")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--annotations",
        type=Path,
        help="hand_corrected directory (default: DIR/../annotations/hand_corrected/<set>)",
    )
    parser.add_argument(
        "--truth",
        choices=("auto", "ecg", "s1"),
        default="auto",
        help="headline ground truth (auto: ECG where any record has one, else S1)",
    )
    parser.add_argument("--no-ecg", action="store_true", help="skip ECG ground truth")
    parser.add_argument(
        "--every", type=int, default=1, help="evaluate every N-th record (deterministic subsample)"
    )
    parser.add_argument("--window", type=float, default=10.0, help="window length, s")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")

    jobs: list[tuple[Path, str, Path]] = []
    for directory in args.dirs:
        if not (directory / "REFERENCE.csv").is_file():
            parser.error(f"{directory}: no REFERENCE.csv (not a PhysioNet-layout directory)")
        annotations = _annotation_dir(directory, args.annotations)
        names = [n for n, _ in read_reference(directory)][:: args.every]
        jobs.extend((directory, n, annotations) for n in names)

    results = Results()
    err_console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("heart rate", total=len(jobs))
        for directory, name, annotations in jobs:
            progress.update(task, description=f"{directory.name}/{name}")
            evaluate_record(
                directory,
                name,
                annotations,
                results,
                use_ecg=not args.no_ecg,
                window_s=args.window,
            )
            progress.advance(task)

    groups = list(dict.fromkeys(d.name for d in args.dirs))
    has = {t for t, _, _ in results.tallies}
    if not has:
        err_console.print("no record had ground truth (no trusted ECG, no S1 annotations)")
        return 2
    primary = args.truth if args.truth != "auto" else ("ecg" if "ecg" in has else "s1")
    if primary not in has:
        err_console.print(f"no record had {primary} ground truth")
        return 2
    console = Console()
    for truth in ("ecg", "s1"):
        if truth in has:
            console.print(_table(results, truth, [*groups, "all"] if len(groups) > 1 else groups))
    console.print(
        f"records {results.records}; ECG untrusted {results.ecg_untrusted}; "
        f"unreadable/rejected audio {len(results.load_errors)}"
    )
    for key, why in sorted(results.load_errors.items())[:10]:
        console.print(f"  {key}: {why}", highlight=False)
    if args.json:
        sys.stdout.flush()
        print(json.dumps(_summary(results, primary, groups)))
    return 0
