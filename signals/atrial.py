"""Atrial activity on ECG: are there P waves before the beats?

An irregular rhythm *with* a P wave before each beat is not atrial fibrillation (ectopic
beats, sinus arrhythmia); AF has no P waves, only fibrillatory waves. Interval statistics
cannot tell the two apart, and they were this detector's false alarms (docs/rhythm.md).
After Ladavich and Ghoraani, "Rate-independent detection of atrial fibrillation by
statistical modeling of atrial activity", *Biomed Signal Process Control* 18:274-281
(2015), who model the P-wave region before each R peak:

1. band-pass the ECG 0.5-40 Hz (2nd-order Butterworth, forward-backward);
2. align each beat (within 25 ms) on the median QRS (R - 60 ms to R + 60 ms);
3. take every beat's window from R - 250 ms to R - 60 ms, remove its mean and linear
   trend, and correlate it with the same window of the median beat;
4. **P-wave consistency** = the median correlation over beats: near 1 when every beat
   has the same P wave, low when there is none (or only f-waves).

The window and the use of the median were chosen on the even rows of the CinC 2017
validation set only (docs/rhythm.md). Numpy and scipy; about 3 ms per 30 s on the device.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike
from scipy import signal as sps

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BAND_HZ = (0.5, 40.0)
QRS_WINDOW_S = (-0.060, 0.060)
P_WINDOW_S = (-0.250, -0.060)
ALIGN_S = 0.025
MIN_BEATS = 4
"""Fewest beats with a whole P window for a consistency value (else None)."""


def _windows(x: FloatArray, at: IntArray, start: int, stop: int) -> FloatArray:
    """Rows ``x[i + start : i + stop]`` of the beats whose window lies inside ``x``."""
    inside = at[(at + start >= 0) & (at + stop <= x.size)]
    if inside.size == 0:
        return np.zeros((0, stop - start))
    return np.stack([x[i + start : i + stop] for i in inside])


def _aligned(x: FloatArray, at: IntArray, rate: float) -> IntArray:
    """Each beat moved (at most 25 ms) to where it best matches the median QRS."""
    start, stop = round(QRS_WINDOW_S[0] * rate), round(QRS_WINDOW_S[1] * rate)
    qrs = _windows(x, at, start, stop)
    if qrs.shape[0] < 3:
        return at
    template = np.median(qrs, axis=0)
    reach = round(ALIGN_S * rate)
    moved = at.copy()
    for j, i in enumerate(at):
        if i + start - reach < 0 or i + stop + reach > x.size:
            continue
        scores = [
            float(x[i + start + d : i + stop + d] @ template) for d in range(-reach, reach + 1)
        ]
        moved[j] = i + int(np.argmax(scores)) - reach
    return moved


def _detrended(rows: FloatArray) -> FloatArray:
    """Each row without its mean and its least-squares line."""
    t = np.arange(rows.shape[1], dtype=np.float64)
    t -= t.mean()
    centred = rows - rows.mean(axis=1, keepdims=True)
    slope = (centred @ t) / (t @ t)
    result: FloatArray = centred - slope[:, None] * t[None, :]
    return result


def p_wave_consistency(ecg: ArrayLike, rate: float, beats_s: ArrayLike) -> float | None:
    """Median correlation of the beats' P-wave windows with the median beat's.

    Args:
        ecg: the ECG samples (any unit).
        rate: its sample rate in Hz.
        beats_s: the R peaks (seconds), e.g. :func:`signals.rhythm.confirmed_beats`.

    Returns:
        The consistency in ``[-1, 1]`` (high: P waves present), or None with fewer than
        :data:`MIN_BEATS` beats whose window fits in the recording.
    """
    x = np.asarray(ecg, dtype=np.float64)
    sos = sps.butter(2, BAND_HZ, btype="bandpass", fs=rate, output="sos")
    x = sps.sosfiltfilt(sos, x)
    at = np.round(np.asarray(beats_s, dtype=np.float64) * rate).astype(np.int64)
    at = _aligned(x, at[(at >= 0) & (at < x.size)], rate)
    start, stop = round(P_WINDOW_S[0] * rate), round(P_WINDOW_S[1] * rate)
    windows = _windows(x, at, start, stop)
    if windows.shape[0] < MIN_BEATS:
        return None
    windows = _detrended(windows)
    template = _detrended(np.median(windows, axis=0)[None, :])[0]
    norms = np.linalg.norm(windows, axis=1) * np.linalg.norm(template) + 1e-12
    return float(np.median((windows @ template) / norms))
