"""ECG and PPG recordings: reading one channel from a file and finding its beats.

The rhythm index (:mod:`signals.rhythm`) needs beat times; an ECG's R-peaks or a PPG's
pulse peaks give them far more precisely than heart sounds. Files:

* WFDB records (``NAME.hea`` with its ``.dat`` or ``.mat``; any of the three may be
  named), read by ``wfdb.rdrecord``; EDF (``.edf``), read by wfdb's EDF reader. The
  channel is the first whose name says ECG or PPG (:func:`detect_kind`).
* CSV: one numeric column, or a header naming an ECG/PPG column; the kind and the
  sample rate must be given (a CSV says neither).

Every refusal is a :class:`SignalFileError` naming the file and the problem. Beats:
neurokit2 (``ecg_clean`` + ``ecg_peaks``, method "neurokit"; ``ppg_clean`` +
``ppg_findpeaks``, Elgendi), imported on first use because it is slow to import.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from signals.atrial import p_wave_consistency
from signals.rhythm import (
    RhythmEstimate,
    confirmed_beats,
    gated_rhythm,
    rhythm_from_beats,
    with_atrial_activity,
)

FloatArray = npt.NDArray[np.float64]
SignalKind = Literal["heart_sound", "ecg", "ppg"]

MIN_SECONDS = 5.0
MAX_NAN_FRACTION = 0.01
"""Short gaps (<= 1 % of samples) are interpolated; more is a broken recording."""
_AUDIO = (".wav", ".flac")
_WFDB = (".hea", ".dat", ".mat")
_CSV = (".csv", ".txt")
_ECG = re.compile(r"^(ecg|ekg|ml(i|ii|iii)?|v[1-6]?|i|ii|iii|a?v[rlf]|lead.*|d[1-3])$")
_PPG = re.compile(r"^(pleth.*|ppg.*|pulse.*|bvp|spo2 ?wave)$")
_IGNORED_COLUMNS = {"time", "t", "seconds", "s", "sample", "index", "timestamp"}


class SignalFileError(ValueError):
    """An ECG/PPG file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class CardiacRecording:
    """One channel of a cardiac recording.

    Attributes:
        kind: what the channel measures.
        signal: the samples (physical units where the file gives them).
        rate: sample rate, Hz.
        source: the file it came from (for messages).
    """

    kind: SignalKind
    signal: FloatArray
    rate: float
    source: str


def _channel_kind(name: str) -> SignalKind | None:
    """ECG or PPG from a channel name such as ``MLII``, ``V5`` or ``PLETH``."""
    key = re.sub(r"[\s_\-]+", " ", name.strip().lower()).strip()
    compact = key.replace(" ", "")
    if _PPG.match(key) or _PPG.match(compact):
        return "ppg"
    if _ECG.match(compact) or compact.startswith(("ecg", "ekg")):
        return "ecg"
    return None


def _record_base(path: Path) -> Path:
    """The WFDB record name (path without extension) of a ``.hea``/``.dat``/``.mat``."""
    return path.with_suffix("") if path.suffix.lower() in _WFDB else path


def _read_wfdb(path: Path, header_only: bool) -> Any:
    """``wfdb.rdrecord``/``rdheader``; retried with a plain record line when it fails.

    Some distributions (the PhysioNet/CinC 2017 copies among them) write the start date
    in a form wfdb cannot parse; the date is irrelevant here, so the record line is cut
    to name, channels, rate and length in a temporary copy.
    """
    import wfdb
    from wfdb.io.convert.edf import read_edf

    base = _record_base(path)
    read = wfdb.rdheader if header_only else wfdb.rdrecord
    if base.suffix.lower() == ".edf":
        with warnings.catch_warnings(action="ignore"):
            return read_edf(str(base))
    try:
        with warnings.catch_warnings(action="ignore"):
            return read(str(base))
    except ValueError:
        pass
    header = base.with_suffix(".hea")
    lines = header.read_text(encoding="latin-1").splitlines()
    lines[0] = " ".join(lines[0].split()[:4])
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / base.name
        copy.with_suffix(".hea").write_text("\n".join(lines) + "\n", encoding="latin-1")
        for line in lines[1:]:
            fields = line.split()
            if fields and not line.startswith("#") and (base.parent / fields[0]).is_file():
                shutil.copy(base.parent / fields[0], Path(tmp) / fields[0])
        with warnings.catch_warnings(action="ignore"):
            return read(str(copy))


def _is_record(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix == ".edf" or (suffix in _WFDB and path.with_suffix(".hea").is_file())


def detect_kind(path: str | Path) -> SignalKind | None:
    """What a file holds, from its extension or its channel names.

    Args:
        path: a ``.wav``/``.flac`` (heart sounds), a WFDB record file or an EDF.

    Returns:
        The kind, or None when the file does not say (CSV, unnamed channels,
        unreadable header): the caller must then be told.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in _AUDIO:
        return "heart_sound"
    if not _is_record(p):
        return None
    try:
        header = _read_wfdb(p, header_only=True)
    except Exception:  # an unreadable header says nothing; load_cardiac reports why
        return None
    for name in header.sig_name or []:
        kind = _channel_kind(str(name))
        if kind is not None:
            return kind
    return None


def _pick_channel(names: list[str], kind: SignalKind | None, source: str) -> tuple[int, SignalKind]:
    """Index and kind of the channel to use: the first of the wanted kind."""
    kinds = [_channel_kind(n) for n in names]
    wanted = [i for i, k in enumerate(kinds) if k is not None and (kind is None or k == kind)]
    if wanted:
        i = wanted[0]
        found = kinds[i]
        assert found is not None
        return i, found
    if kind is not None and len(names) == 1:
        return 0, kind
    listed = ", ".join(names) or "none"
    what = kind.upper() if kind else "ECG or PPG"
    raise SignalFileError(f"{source}: no {what} channel (channels: {listed}); name the kind")


def _load_record(p: Path, kind: SignalKind | None) -> tuple[FloatArray, float, SignalKind]:
    source = str(p)
    try:
        record = _read_wfdb(p, header_only=False)
    except Exception as exc:  # wfdb raises many types for broken files
        raise SignalFileError(f"{source}: unreadable WFDB/EDF record ({exc})") from None
    names = [str(n) for n in (record.sig_name or [])]
    signals = record.p_signal if record.p_signal is not None else record.d_signal
    if signals is None or not names:
        raise SignalFileError(f"{source}: the record holds no signal")
    i, found = _pick_channel(names, kind, source)
    return np.asarray(signals[:, i], dtype=np.float64), float(record.fs), found


def _load_csv(p: Path, kind: SignalKind) -> FloatArray:
    source = str(p)
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise SignalFileError(f"{source}: unreadable CSV ({exc})") from None
    if not rows:
        raise SignalFileError(f"{source}: the CSV is empty")
    header: list[str] | None = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    width = max(len(r) for r in rows) if rows else 0
    col = 0
    if header is not None:
        named = [i for i, n in enumerate(header) if _channel_kind(n) == kind]
        usable = [i for i, n in enumerate(header) if n.lower() not in _IGNORED_COLUMNS]
        if named:
            col = named[0]
        elif len(usable) == 1:
            col = usable[0]
        else:
            raise SignalFileError(
                f"{source}: cannot tell which column is the {kind.upper()} "
                f"(columns: {', '.join(header)}); name it {kind.upper()}"
            )
    elif width != 1:
        raise SignalFileError(
            f"{source}: {width} unnamed columns; give one column or a header naming "
            f"the {kind.upper()} column"
        )
    try:
        return np.array([float(r[col]) if r[col].strip() else np.nan for r in rows])
    except (ValueError, IndexError):
        raise SignalFileError(f"{source}: non-numeric values in column {col + 1}") from None


def _checked(signal: FloatArray, rate: float, source: str) -> FloatArray:
    """Refuse short, broken or flat signals; interpolate a few missing samples."""
    if not (np.isfinite(rate) and rate > 0):
        raise SignalFileError(f"{source}: sample rate must be positive, got {rate}")
    seconds = signal.size / rate
    if seconds < MIN_SECONDS:
        raise SignalFileError(
            f"{source}: too short ({seconds:.1f} s; need at least {MIN_SECONDS:.0f} s)"
        )
    bad = ~np.isfinite(signal)
    if bad.mean() > MAX_NAN_FRACTION:
        raise SignalFileError(f"{source}: {bad.mean():.0%} of samples are missing (NaN)")
    if bad.any():
        idx = np.arange(signal.size)
        signal = signal.copy()
        signal[bad] = np.interp(idx[bad], idx[~bad], signal[~bad])
    if float(np.ptp(signal)) <= 1e-9 * max(1.0, float(np.abs(signal).max())):
        raise SignalFileError(f"{source}: flat signal (no variation), nothing to analyse")
    return signal


def load_cardiac(
    path: str | Path, kind: SignalKind | None = None, rate: float | None = None
) -> CardiacRecording:
    """Read one ECG or PPG channel from a WFDB record, an EDF or a CSV file.

    Args:
        path: the file (``.hea``/``.dat``/``.mat``, ``.edf``, ``.csv``).
        kind: ``"ecg"`` or ``"ppg"``; required for CSV, otherwise from the channel names.
        rate: sample rate in Hz; required for CSV (records carry their own).

    Returns:
        The checked recording.

    Raises:
        SignalFileError: unknown kind, heart sounds, missing rate, unreadable, too short,
            flat or mostly missing signal.
    """
    p = Path(path)
    source = str(p)
    suffix = p.suffix.lower()
    if kind is not None and kind not in ("ecg", "ppg", "heart_sound"):
        raise SignalFileError(f"{source}: unknown signal kind {kind!r} (use ecg or ppg)")
    if kind == "heart_sound" or suffix in _AUDIO:
        raise SignalFileError(f"{source}: heart sounds are read by signals.audio, not here")
    if not p.is_file():
        raise SignalFileError(f"{source}: no such file")
    if _is_record(p):
        signal, fs, found = _load_record(p, kind)
        return CardiacRecording(found, _checked(signal, fs, source), fs, source)
    if suffix in _CSV:
        if kind is None:
            raise SignalFileError(f"{source}: a CSV does not say what it holds; give the kind")
        if rate is None:
            raise SignalFileError(f"{source}: a CSV has no sample rate; give the rate in Hz")
        signal = _load_csv(p, kind)
        return CardiacRecording(kind, _checked(signal, float(rate), source), float(rate), source)
    raise SignalFileError(
        f"{source}: unknown file type {suffix or '(none)'} "
        "(expected a WFDB .hea/.dat/.mat, an .edf or a .csv)"
    )


SECOND_ECG_DETECTOR = "hamilton2002"
"""The check detector for ECG (a different principle from neurokit's gradient method)."""
THIRD_ECG_DETECTOR = "pantompkins1985"
"""With the second, it confirms each beat before it enters the intervals."""


def beat_times(recording: CardiacRecording, method: str | None = None) -> FloatArray:
    """Beat times in seconds: ECG R-peaks or PPG pulse peaks (neurokit2).

    Args:
        recording: an ECG or PPG recording.
        method: neurokit2 ECG method (default "neurokit"; the quality gate also runs
            :data:`SECOND_ECG_DETECTOR`); ignored for PPG (Elgendi).

    Returns:
        Sorted beat times; empty when the detector finds nothing usable (the rhythm
        gate then reports too few beats).

    Raises:
        SignalFileError: a heart-sound recording (use
            :func:`signals.heart_sound_rhythm.rhythm_of_heart_sounds`).
    """
    import neurokit2 as nk

    rate = recording.rate
    try:
        with warnings.catch_warnings(action="ignore"):
            if recording.kind == "ecg":
                how = method or "neurokit"
                clean = nk.ecg_clean(recording.signal, sampling_rate=rate, method=how)
                _, info = nk.ecg_peaks(clean, sampling_rate=rate, method=how)
                peaks = info["ECG_R_Peaks"]
            elif recording.kind == "ppg":
                clean = nk.ppg_clean(recording.signal, sampling_rate=rate, method="elgendi")
                peaks = nk.ppg_findpeaks(clean, sampling_rate=rate, method="elgendi")["PPG_Peaks"]
            else:
                raise SignalFileError(f"{recording.source}: beat_times takes ECG or PPG")
    except SignalFileError:
        raise
    except Exception:  # a detector failing on a bad signal means: no beats found
        return np.zeros(0)
    return np.sort(np.asarray(peaks, dtype=np.float64)) / rate


def analyse_rhythm(recording: CardiacRecording) -> RhythmEstimate:
    """Irregularity index of a recording: its beats, then :mod:`signals.rhythm`.

    ECG passes the two-detector agreement gate (:func:`signals.rhythm.gated_rhythm`) and
    has its P waves read (:func:`signals.rhythm.with_atrial_activity`); PPG has no second
    detector here and gets the interval gate only.
    """
    if recording.kind == "heart_sound":
        from signals.heart_sound_rhythm import rhythm_of_heart_sounds

        return rhythm_of_heart_sounds(recording.signal, round(recording.rate))
    beats = beat_times(recording)
    if recording.kind == "ecg":
        second = beat_times(recording, SECOND_ECG_DETECTOR)
        third = beat_times(recording, THIRD_ECG_DETECTOR)
        return ecg_rhythm(recording.signal, recording.rate, beats, second, third)
    return rhythm_from_beats(beats)


def ecg_rhythm(
    ecg: FloatArray, rate: float, beats: FloatArray, second: FloatArray, third: FloatArray
) -> RhythmEstimate:
    """The ECG rhythm from the three detectors' beats (seconds): the agreement gate, the
    confirmed beats' index, then their P waves. ``beats`` may be one window's of a longer
    ``ecg`` (``hrmon eval rhythm`` times windows of a whole record this way)."""
    estimate = gated_rhythm(beats, second, second, third)
    if estimate.index is None:
        return estimate
    counted = confirmed_beats(beats, second, third)  # the beats the index counted
    return with_atrial_activity(estimate, p_wave_consistency(ecg, rate, counted))
