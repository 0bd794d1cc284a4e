"""The heart-sound segmenter (Springer-style HSMM) against hand-corrected annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.segmentation import annotated_states, event_counts, f1
from signals.segmentation import (
    FEATURE_RATE,
    _duration_logpdf,
    segment,
    sound_centres,
    viterbi,
)

PHYSIONET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "physionet2016"
ANNOTATIONS = PHYSIONET / "annotations" / "hand_corrected"
# One recording of each set from the *test* part of model/split.json (never fitted on).
ANNOTATED = ["a0004", "b0002", "c0001", "d0003", "e00004", "f0001"]  # first of each
# Pooled over the six: measured 0.93 over all 545 annotated test recordings, the least
# set (f) 0.81; a single recording may be noisy, hence a lower per-recording floor.
F1_FLOOR = 0.85
RECORDING_FLOOR = 0.70


def _state_run(pattern: list[tuple[int, int]], cycles: int) -> np.ndarray:
    return np.concatenate([np.full(n, s) for _ in range(cycles) for s, n in pattern])


def test_viterbi_recovers_a_clean_state_sequence() -> None:
    truth = _state_run([(0, 6), (1, 12), (2, 5), (3, 22)], cycles=6)  # 45 frames = 67 bpm
    log_b = np.full((truth.size, 4), -5.0)
    log_b[np.arange(truth.size), truth] = 0.0
    found = viterbi(log_b, _duration_logpdf(cycle=0.9, systole=0.36, max_d=70))
    assert np.mean(found == truth) > 0.97


def test_durations_decide_s1_from_s2_when_emissions_cannot() -> None:
    # Emissions say only "sound" or "silence": which sound is S1 follows from the short
    # (systole) and long (diastole) gaps, as in Springer's HSMM.
    truth = _state_run([(0, 6), (1, 12), (2, 5), (3, 22)], cycles=6)
    sound = (truth == 0) | (truth == 2)
    log_b = np.where(sound[:, None], [0.0, -5.0, 0.0, -5.0], [-5.0, 0.0, -5.0, 0.0])
    found = viterbi(log_b, _duration_logpdf(cycle=0.9, systole=0.36, max_d=70))
    assert np.mean(found == truth) > 0.9


def test_event_f1_counts_matches_within_60_ms() -> None:
    truth = _state_run([(0, 6), (1, 12), (2, 5), (3, 22)], cycles=4)
    assert event_counts(truth, truth) == (8, 0, 0)
    shifted = np.roll(truth, 2)  # 40 ms: still a match
    assert event_counts(shifted, truth)[0] == 8
    far = np.roll(truth, 10)  # 200 ms: every detection misses
    tp, _fp, fn = event_counts(far, truth)
    assert tp == 0 and fn == 8
    assert f1(8, 0, 0) == 1.0 and f1(0, 8, 8) == 0.0


def test_sound_centres_in_seconds() -> None:
    states = np.array([3, 0, 0, 0, 1, 1, 2, 2, 3])
    assert list(sound_centres(states, 0)) == pytest.approx([2.5 / FEATURE_RATE])
    assert list(sound_centres(states, 2)) == pytest.approx([7.0 / FEATURE_RATE])


@pytest.mark.data
def test_segmenter_f1_on_annotated_test_recordings(shared_data: Path) -> None:
    from model.data import read_training_audio

    totals = np.zeros(3, dtype=int)
    for name in ANNOTATED:
        folder = f"training-{name[0]}"
        x = read_training_audio(PHYSIONET / folder / f"{name}.flac")
        found = segment(x)
        truth = annotated_states(ANNOTATIONS / folder / f"{name}_StateAns.mat", found.size)
        counts = event_counts(found, truth)
        assert f1(*counts) >= RECORDING_FLOOR, f"{name}: S1/S2 F1 {f1(*counts):.3f}"
        totals += counts
    assert f1(*totals) >= F1_FLOOR


def test_segment_handles_short_and_resampled_input() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(2 * 2000) / 2000
    x = (np.mod(t, 0.8) < 0.08) * np.sin(2 * np.pi * 60 * t) + 0.01 * rng.standard_normal(t.size)
    states = segment(x)
    assert states.shape == (2 * FEATURE_RATE,)
    assert set(np.unique(states)) <= {0, 1, 2, 3}
