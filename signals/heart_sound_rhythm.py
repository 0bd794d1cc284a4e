"""Rhythm irregularity of a heart-sound recording: S1-to-S1 intervals from the segmenter.

Each heart cycle starts with S1, so consecutive S1 centres are beat-to-beat intervals.
They come from the HSMM segmenter the device already runs (:mod:`signals.segmentation`,
Springer et al. 2016), not from a second detector; S1 runs cut by the recording's edges
are left out (their centres are not the sound's). The index and its quality gate are
:mod:`signals.rhythm`'s.

The segmenter's duration model expects a roughly constant cycle, so an irregular rhythm
is segmented less reliably than an ECG's R-peaks: for rhythm, ECG or PPG is preferable.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from signals.audio import WORKING_RATE, resample
from signals.rhythm import RhythmEstimate, rhythm_from_beats
from signals.segmentation import FEATURE_RATE, segment

MIN_SECONDS = 2.0
"""The segmenter's shortest input."""


def s1_times(states: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Centres (s) of the S1 runs of a state sequence, without runs cut by its edges."""
    mask = np.concatenate([[False], states == 0, [False]])
    edges = np.flatnonzero(np.diff(mask.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    whole = (starts > 0) & (stops < states.size)
    return np.asarray((starts[whole] + stops[whole]) / 2.0 / FEATURE_RATE, dtype=np.float64)


def heart_sound_states(signal: npt.NDArray[np.floating], rate: int) -> npt.NDArray[np.int64] | None:
    """The segmenter's states of a recording at 2 kHz; None when too short or not finite.

    The same states as the abnormality score's cycle model computes for this signal, so
    the device segments once for both (``AbnormalityScorer.score_recording(states=)``).

    Raises:
        ValueError: not a one-dimensional signal or a non-positive rate.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"heart sounds must be one channel, got shape {x.shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if rate != WORKING_RATE:
        x = resample(x.astype(np.float32), rate, WORKING_RATE).astype(np.float64)
    if x.size < MIN_SECONDS * WORKING_RATE or not np.isfinite(x).all():
        return None
    return segment(x, WORKING_RATE)


def rhythm_of_states(states: npt.NDArray[np.int64] | None) -> RhythmEstimate:
    """Irregularity index from the S1-S1 intervals of a state sequence (None: too short)."""
    if states is None:
        return RhythmEstimate(None, 0, None, "recording too short or not finite")
    return rhythm_from_beats(s1_times(states))


def rhythm_of_heart_sounds(signal: npt.NDArray[np.floating], rate: int) -> RhythmEstimate:
    """Irregularity index of a heart-sound recording from its S1-S1 intervals.

    Args:
        signal: mono heart-sound samples (as ``signals.audio.load_audio`` gives them).
        rate: their sample rate in Hz (resampled to 2 kHz when different).

    Returns:
        The estimate; not judged when too short or when the gate refuses the intervals.

    Raises:
        ValueError: not a one-dimensional signal or a non-positive rate.
    """
    return rhythm_of_states(heart_sound_states(signal, rate))
