"""The irregularity index on real recordings: shipped CinC 2017 ECGs and a heart sound."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from signals.atrial import p_wave_consistency
from signals.audio import load_audio
from signals.cardiac_input import analyse_rhythm, beat_times, load_cardiac
from signals.heart_sound_rhythm import rhythm_of_heart_sounds
from signals.rhythm import (
    AF_NRMSSD_WITH_P_WAVES,
    AF_NRMSSD_WITHOUT_P_WAVES,
    DEFAULT_IRREGULARITY_THRESHOLD,
    MIN_INTERVALS,
    P_WAVES_FROM,
    RhythmEstimate,
    confirmed_beats,
    gated_rhythm,
    rhythm_from_beats,
    rhythm_from_intervals,
    with_atrial_activity,
)

ECG_DIR = Path(__file__).resolve().parent.parent / "device" / "samples" / "ecg"
HEART_SOUND = ECG_DIR.parent / "a0018.wav"


def _labels() -> dict[str, str]:
    with (ECG_DIR / "REFERENCE.csv").open(newline="") as fh:
        return {row[0]: row[1] for row in csv.reader(fh) if row}


@pytest.mark.parametrize("name", sorted(_labels()))
def test_shipped_af_is_irregular_and_normal_regular(name: str) -> None:
    est = analyse_rhythm(load_cardiac(ECG_DIR / f"{name}.hea"))
    assert est.index is not None, est.reason
    assert 0.0 <= est.index <= 1.0
    assert est.irregular is (_labels()[name] == "A"), est


def test_a_regular_and_an_irregular_record_share_a_heart_rate() -> None:
    """The shipped pair A00004 (AF) / A00006 (N) lie within 10 bpm (the README's rule)."""
    af = analyse_rhythm(load_cardiac(ECG_DIR / "A00004.hea"))
    normal = analyse_rhythm(load_cardiac(ECG_DIR / "A00006.hea"))
    assert af.bpm is not None and normal.bpm is not None
    assert abs(af.bpm - normal.bpm) <= 10.0
    assert af.irregular and not normal.irregular


def test_index_on_a_short_window_of_real_beats() -> None:
    """A 10 s streaming window still gets judged, and the same way as the whole record."""
    for name, label in _labels().items():
        beats = beat_times(load_cardiac(ECG_DIR / f"{name}.hea"))
        window = rhythm_from_beats(beats[(beats >= 0.0) & (beats < 10.0)])
        assert window.intervals >= MIN_INTERVALS
        assert window.irregular is (label == "A"), (name, window)


def test_implausible_intervals_are_not_judged() -> None:
    beats = beat_times(load_cardiac(ECG_DIR / "A00006.hea"))
    intervals = np.diff(beats)
    noisy = intervals.copy()
    noisy[::3] = 0.1  # a third of the intervals impossibly short: noise, not rhythm
    est = rhythm_from_intervals(noisy)
    assert est.index is None and "outside" in est.reason
    few = rhythm_from_intervals(intervals[: MIN_INTERVALS - 1])
    assert few.index is None and "too few" in few.reason
    assert rhythm_from_beats([]) == RhythmEstimate(None, 0, None, "too few beats (0)")


def test_bad_interval_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        rhythm_from_intervals([[0.8, 0.9], [0.8, 0.9]])
    with pytest.raises(ValueError, match="numbers"):
        rhythm_from_intervals(["fast", "slow"])


def test_threshold_is_the_literature_value() -> None:
    assert DEFAULT_IRREGULARITY_THRESHOLD == 0.1  # Dash et al. 2009


def test_heart_sound_sample_gets_an_estimate() -> None:
    est = rhythm_of_heart_sounds(load_audio(HEART_SOUND), 2000)
    assert isinstance(est, RhythmEstimate)
    assert est.index is not None and 0.0 <= est.index <= 1.0
    assert est.bpm is not None and 40.0 < est.bpm < 150.0


def test_a_beat_only_one_detector_sees_is_not_counted() -> None:
    """A regular rhythm with three spurious primary beats (T waves) looks irregular; the
    second and third detectors, marking R 70 ms late, do not confirm them, so they are
    dropped and the rhythm is regular again. The gate still compares the raw detectors."""
    true_beats = np.arange(20) * 0.8 + 0.3
    spurious = true_beats[[2, 9, 15]] + 0.33
    primary = np.sort(np.append(true_beats, spurious))
    late = true_beats + 0.07
    assert not np.any(np.isin(confirmed_beats(primary, late), spurious))
    assert np.allclose(confirmed_beats(primary, late, late), true_beats)
    assert confirmed_beats(primary).size == 0  # no second opinion: nothing confirmed
    raw = rhythm_from_beats(primary)
    kept = gated_rhythm(primary, late, late)
    assert raw.index is not None and raw.index >= DEFAULT_IRREGULARITY_THRESHOLD
    assert kept.index is not None and kept.index < 0.01


def test_irregular_beats_with_p_waves_are_not_called_af() -> None:
    """A00002 (CinC 2017, normal rhythm; README beside it): its intervals are as irregular
    as AF (nRMSSD above 0.1, the former false alarm), but every beat has its P wave."""
    est = analyse_rhythm(load_cardiac(ECG_DIR / "A00002.hea"))
    assert est.nrmssd is not None and est.nrmssd >= DEFAULT_IRREGULARITY_THRESHOLD
    assert est.p_wave is not None and est.p_wave >= P_WAVES_FROM
    assert est.irregular is False


def test_af_has_no_consistent_p_waves_and_sinus_rhythm_has() -> None:
    for name, label in _labels().items():
        recording = load_cardiac(ECG_DIR / f"{name}.hea")
        est = analyse_rhythm(recording)
        assert est.p_wave is not None
        assert (est.p_wave < P_WAVES_FROM) is (label == "A"), (name, est.p_wave)
    # too few beats for a P-wave template: no value, and the index stays as it was
    assert p_wave_consistency(recording.signal, recording.rate, [1.0, 2.0, 3.0]) is None
    plain = RhythmEstimate(0.2, 10, 70.0, "")
    assert with_atrial_activity(plain, None) == plain


@pytest.mark.parametrize(
    ("nrmssd", "p_wave", "irregular"),
    [
        (AF_NRMSSD_WITHOUT_P_WAVES, 0.2, True),
        (AF_NRMSSD_WITHOUT_P_WAVES * 0.99, 0.2, False),
        (AF_NRMSSD_WITH_P_WAVES * 0.99, P_WAVES_FROM, False),
        (AF_NRMSSD_WITH_P_WAVES, 0.95, True),
    ],
)
def test_the_index_sent_says_the_rule_at_the_default_threshold(
    nrmssd: float, p_wave: float, irregular: bool
) -> None:
    est = with_atrial_activity(RhythmEstimate(nrmssd, 20, 70.0, ""), p_wave)
    assert est.irregular is irregular and est.nrmssd == nrmssd
    assert est.index is not None and 0.0 <= est.index <= 1.0
