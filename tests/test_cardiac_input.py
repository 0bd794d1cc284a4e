"""Reading ECG/PPG files: shipped WFDB records, CSV exports, and every refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signals.cardiac_input import (
    SignalFileError,
    beat_times,
    detect_kind,
    load_cardiac,
)

ECG_DIR = Path(__file__).resolve().parent.parent / "device" / "samples" / "ecg"
RECORD = ECG_DIR / "A00004.hea"


def test_wfdb_record_by_any_of_its_files() -> None:
    for suffix in (".hea", ".mat"):
        rec = load_cardiac(RECORD.with_suffix(suffix))
        assert rec.kind == "ecg" and rec.rate == 300.0 and rec.signal.size == 9000
    assert detect_kind(RECORD) == "ecg"
    assert detect_kind(ECG_DIR.parent / "a0018.wav") == "heart_sound"


def test_csv_export_with_rate_gives_the_same_beats(tmp_path: Path) -> None:
    rec = load_cardiac(RECORD)
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, rec.signal, fmt="%.6f")
    named = tmp_path / "named.csv"
    t = np.arange(rec.signal.size) / rec.rate
    np.savetxt(
        named, np.c_[t, rec.signal], fmt="%.6f", delimiter=",", header="time,ECG", comments=""
    )
    assert detect_kind(plain) is None
    expected = beat_times(rec)
    for path in (plain, named):
        got = beat_times(load_cardiac(path, kind="ecg", rate=rec.rate))
        assert got.size == expected.size
        assert np.allclose(got, expected, atol=1.0 / rec.rate)


def _csv(tmp_path: Path, values: np.ndarray) -> Path:
    path = tmp_path / "x.csv"
    np.savetxt(path, values, fmt="%.6f")
    return path


def test_csv_without_rate(tmp_path: Path) -> None:
    path = _csv(tmp_path, load_cardiac(RECORD).signal)
    with pytest.raises(SignalFileError, match="sample rate") as err:
        load_cardiac(path, kind="ecg")
    assert str(path) in str(err.value)


def test_csv_without_kind(tmp_path: Path) -> None:
    path = _csv(tmp_path, load_cardiac(RECORD).signal)
    with pytest.raises(SignalFileError, match="give the kind"):
        load_cardiac(path, rate=300)


def test_unknown_kind(tmp_path: Path) -> None:
    path = _csv(tmp_path, load_cardiac(RECORD).signal)
    with pytest.raises(SignalFileError, match="unknown signal kind"):
        load_cardiac(path, kind="eeg", rate=300)  # type: ignore[arg-type]


def test_unknown_file_type(tmp_path: Path) -> None:
    path = tmp_path / "x.xyz"
    path.write_text("1\n2\n")
    with pytest.raises(SignalFileError, match="unknown file type"):
        load_cardiac(path, kind="ecg", rate=300)


def test_too_short(tmp_path: Path) -> None:
    path = _csv(tmp_path, load_cardiac(RECORD).signal[:900])  # 3 s
    with pytest.raises(SignalFileError, match="too short"):
        load_cardiac(path, kind="ecg", rate=300)


def test_flat(tmp_path: Path) -> None:
    path = _csv(tmp_path, np.full(9000, 0.25))
    with pytest.raises(SignalFileError, match="flat"):
        load_cardiac(path, kind="ecg", rate=300)


def test_mostly_missing(tmp_path: Path) -> None:
    signal = load_cardiac(RECORD).signal.copy()
    signal[::10] = np.nan
    path = tmp_path / "nan.csv"
    np.savetxt(path, signal, fmt="%.6f")
    with pytest.raises(SignalFileError, match="missing"):
        load_cardiac(path, kind="ecg", rate=300)


def test_unreadable_record(tmp_path: Path) -> None:
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    with pytest.raises(SignalFileError, match="unreadable"):
        load_cardiac(tmp_path / "bad.hea")


def test_heart_sounds_are_not_read_here() -> None:
    with pytest.raises(SignalFileError, match="heart sounds"):
        load_cardiac(ECG_DIR.parent / "a0018.wav")
