"""Heart rate from a phonocardiogram (PCG), per window and for a whole recording.

Method (numpy/scipy only; it runs on the wearable):

1. Band-pass 25-400 Hz (4th-order Butterworth, causal so windows can stream).
2. Envelope: RMS over 10 ms blocks (100 Hz), capped at 8x its 90th percentile to blunt
   friction spikes, standardised. Linear, not log: the S1*S2 cross term at the S1-S2
   lag then stays below the S1^2 + S2^2 of the true period (a log envelope equalises
   S1 and S2 and made the doubling error more frequent on the dev subset).
3. Autocorrelation of the envelope (the Schmidt/Springer baseline), normalised per lag
   (unbiased) so that long lags are not penalised for having fewer overlapping samples.
4. Harmonic-aware period choice over 30-200 bpm, among the ACF's local maxima:
   a lag whose ACF is clearly below the ACF at its 2x or 3x multiple is a sub-period
   (the S1-S2 interval, or a third of a period when diastole is twice systole: the
   classic doubling/tripling errors) and only used if nothing else is left; the rest
   are scored by the mean ACF at their first four multiples (a comb), and the shortest
   lag within 90 % of the best score wins (twice the period scores as well as the
   period: the halving error). Parabolic interpolation refines the lag below 10 ms.
5. Signal-quality index in [0, 1]: the comb score of the chosen period. One window is
   unusable below :data:`MIN_WINDOW_QUALITY`. A whole recording averages the ACFs of
   10 s windows (5 s hop, Welch-style) and picks the period once on the average; its
   quality is the comb score discounted by the share of windows that disagree with the
   overall rate (by more than 5 %), unusable below :data:`MIN_QUALITY`. Unusable
   estimates carry a reason and no bpm: they are marked, not guessed.

About 340 lines: one estimator (envelope, autocorrelation, beat picking, quality checks)
whose parts are only meaningful together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfilt

from signals.audio import WORKING_RATE

FloatArray = npt.NDArray[np.float64]

MIN_BPM: float = 30.0
MAX_BPM: float = 200.0
ENVELOPE_RATE: int = 100
"""Envelope rate in Hz: 10 ms resolution, refined below one sample by interpolation."""

MIN_QUALITY: float = 0.12
"""Whole-recording quality below which the estimate is unusable (tuned on a dev subset)."""

MIN_WINDOW_QUALITY: float = 0.30
"""Single-window quality below which a window is unusable: one window has no other
windows to agree with, so it must be more periodic to be trusted (tuned on a dev subset)."""

MIN_SECONDS: float = 4.0
"""Shortest span that holds two beats at 30 bpm."""

_BAND_HZ = (25.0, 400.0)
_COMB_HARMONICS = 4  # multiples of a candidate period used to score it
_SHORTER_WINS = 0.90  # a shorter period within this fraction of the best score wins
_SUBPERIOD_RATIO = 0.90  # a lag whose ACF is below this share of a multiple's is a sub-period
_AGREE_TOLERANCE = 0.05  # a window agrees when within 5 % of the overall rate
_SPIKE_CAP = 8.0  # envelope ceiling, times its 90th percentile


@dataclass(frozen=True)
class HeartRateEstimate:
    """One heart-rate reading.

    Attributes:
        bpm: beats per minute, or None when unusable.
        quality: signal-quality index in [0, 1] (periodicity of the envelope at the
            chosen rate); higher is cleaner.
        usable: whether ``bpm`` can be trusted (quality at least :data:`MIN_QUALITY`).
        reason: why the estimate is unusable, else None.
        start_s: start of the span the estimate covers, seconds from the recording start.
        end_s: end of that span, seconds.
    """

    bpm: float | None
    quality: float
    usable: bool
    reason: str | None
    start_s: float = 0.0
    end_s: float = 0.0


@lru_cache(maxsize=8)
def _band_pass(rate: int) -> FloatArray:
    high = min(_BAND_HZ[1], 0.45 * rate)
    sos: FloatArray = butter(4, [_BAND_HZ[0], high], btype="bandpass", fs=rate, output="sos")
    return sos


def envelope(signal: npt.NDArray[np.floating], rate: int = WORKING_RATE) -> FloatArray:
    """Standardised log-RMS envelope of the heart-sound band at :data:`ENVELOPE_RATE`.

    Args:
        signal: mono PCG samples.
        rate: their sample rate in Hz (a multiple of 100 keeps blocks exact).

    Returns:
        The envelope, zero mean and unit variance (all zeros if flat).
    """
    x = sosfilt(_band_pass(rate), np.asarray(signal, dtype=np.float64))
    block = max(1, round(rate / ENVELOPE_RATE))
    n = x.size // block
    env = np.sqrt(np.mean(np.square(x[: n * block]).reshape(n, block), axis=1))
    # Friction and speech spikes are far louder than heart sounds: cap them at a robust
    # ceiling so one spike does not dominate the autocorrelation. A linear (not log)
    # envelope keeps S1*S2 cross terms below the S1^2+S2^2 of the true period.
    if env.size:
        env = np.minimum(env, _SPIKE_CAP * float(np.percentile(env, 90)))
    env -= env.mean() if env.size else 0.0
    sd = float(env.std()) if env.size else 0.0
    result: FloatArray = env / sd if sd > 0 else env
    return result


def autocorrelation(env: FloatArray, max_lag: int) -> FloatArray:
    """Unbiased, normalised autocorrelation of a zero-mean sequence up to ``max_lag``.

    Args:
        env: zero-mean sequence.
        max_lag: largest lag returned (inclusive), in samples.

    Returns:
        ``acf[0..max_lag]`` with ``acf[0] == 1`` (zeros if the input is flat).
    """
    n = env.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(env, nfft)
    raw = np.fft.irfft(spec * np.conj(spec), nfft)[: max_lag + 1]
    raw = raw / (n - np.arange(max_lag + 1))
    acf: FloatArray = raw / raw[0] if raw[0] > 0 else np.zeros(max_lag + 1)
    return acf


def _peak_near(acf: FloatArray, lag: float, tol: float) -> float:
    lo = max(1, int(np.floor(lag * (1 - tol))))
    hi = min(acf.size - 1, int(np.ceil(lag * (1 + tol))))
    if lo > hi:
        return 0.0
    return float(acf[lo : hi + 1].max())


def _comb_score(acf: FloatArray, lag: float) -> float:
    usable = [k for k in range(1, _COMB_HARMONICS + 1) if k * lag * 1.03 < acf.size - 1]
    # Tolerance grows with k: beat-to-beat variability accumulates over several periods.
    values = [_peak_near(acf, k * lag, 0.03 + 0.01 * k) for k in usable]
    return float(np.mean(values)) if values else 0.0


def _refine(acf: FloatArray, i: int) -> float:
    if 0 < i < acf.size - 1:
        a, b, c = acf[i - 1], acf[i], acf[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return i + 0.5 * float(a - c) / float(denom)
    return float(i)


def choose_period(acf: FloatArray, env_rate: int = ENVELOPE_RATE) -> tuple[float, float] | None:
    """Pick the heart period from an envelope autocorrelation, harmonic-aware.

    Args:
        acf: normalised autocorrelation, lag 0 first.
        env_rate: its sample rate in Hz.

    Returns:
        ``(period_in_lags, quality)`` or None when the ACF has no peak in 30-200 bpm.
    """
    lo = int(np.floor(env_rate * 60.0 / MAX_BPM))
    hi = min(acf.size - 2, int(np.ceil(env_rate * 60.0 / MIN_BPM)))
    if hi <= lo + 1:
        return None
    seg = acf[lo - 1 : hi + 2]
    is_peak = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > 0)
    peaks = np.flatnonzero(is_peak) + lo
    if peaks.size == 0:
        return None
    candidates: list[tuple[float, float]] = []
    sub_periods: list[tuple[float, float]] = []
    for p in peaks:
        lag = _refine(acf, int(p))
        score = _comb_score(acf, lag)
        multiples = [
            _peak_near(acf, k * lag, 0.03 + 0.01 * k)
            for k in (2, 3)
            if k * lag * 1.05 < acf.size - 1
        ]
        # The S1-S2 interval (or a third of a period when diastole is twice systole)
        # has a lower ACF than the true period it divides: S1*S2 < S1^2 + S2^2.
        if any(acf[p] < _SUBPERIOD_RATIO * m for m in multiples):
            sub_periods.append((lag, score))
        else:
            candidates.append((lag, score))
    pool = candidates or sub_periods
    best = max(score for _, score in pool)
    if best <= 0:
        return None
    # Twice the period scores as well as the period: among near-best candidates take the
    # shortest.
    for lag, score in pool:
        if score >= _SHORTER_WINS * best:
            return lag, float(np.clip(score, 0.0, 1.0))
    raise AssertionError("unreachable: the best candidate always qualifies")


def _judged(
    bpm: float, quality: float, start_s: float, end_s: float, min_quality: float
) -> HeartRateEstimate:
    if quality < min_quality:
        reason = f"low signal quality ({quality:.2f} < {min_quality:.2f})"
        return HeartRateEstimate(None, quality, False, reason, start_s, end_s)
    return HeartRateEstimate(round(bpm, 2), quality, True, None, start_s, end_s)


def _from_acf(
    acf: FloatArray, start_s: float, end_s: float, *, min_quality: float
) -> HeartRateEstimate:
    chosen = choose_period(acf)
    if chosen is None:
        return HeartRateEstimate(None, 0.0, False, "no periodicity in 30-200 bpm", start_s, end_s)
    lag, quality = chosen
    bpm = 60.0 * ENVELOPE_RATE / lag
    return _judged(bpm, quality, start_s, end_s, min_quality)


def _acf_of(signal: npt.NDArray[np.floating], rate: int) -> FloatArray:
    env = envelope(signal, rate)
    max_lag = min(env.size - 2, int(np.ceil(ENVELOPE_RATE * 60.0 / MIN_BPM * _COMB_HARMONICS)))
    return autocorrelation(env, max_lag)


def _too_short(seconds: float, start_s: float, end_s: float) -> HeartRateEstimate:
    return HeartRateEstimate(
        None, 0.0, False, f"too short ({seconds:.1f} s < {MIN_SECONDS:g} s)", start_s, end_s
    )


def estimate_window(
    signal: npt.NDArray[np.floating], rate: int = WORKING_RATE, *, start_s: float = 0.0
) -> HeartRateEstimate:
    """Estimate the heart rate of one span of PCG (typically 5-10 s).

    Args:
        signal: mono PCG samples (validated by :mod:`signals.audio`).
        rate: sample rate in Hz.
        start_s: where the span starts in the recording (copied into the result).

    Returns:
        The estimate; ``usable`` is False (with a reason) rather than a guess.
    """
    seconds = len(signal) / rate
    if seconds < MIN_SECONDS:
        return _too_short(seconds, start_s, start_s + seconds)
    return _from_acf(
        _acf_of(signal, rate), start_s, start_s + seconds, min_quality=MIN_WINDOW_QUALITY
    )


def _spans(n: int, rate: int, window_s: float, hop_s: float) -> list[tuple[int, int]]:
    win = round(window_s * rate)
    hop = max(1, round(hop_s * rate))
    if n <= win:
        return [(0, n)]
    starts = list(range(0, n - win + 1, hop))
    return [(s, s + win) for s in starts]


def estimate_windows(
    signal: npt.NDArray[np.floating],
    rate: int = WORKING_RATE,
    *,
    window_s: float = 10.0,
    hop_s: float = 10.0,
) -> list[HeartRateEstimate]:
    """Estimate the heart rate window by window (streaming).

    Args:
        signal: mono PCG samples.
        rate: sample rate in Hz.
        window_s: window length, seconds (at least :data:`MIN_SECONDS`).
        hop_s: step between window starts, seconds; a tail shorter than a window is
            dropped (a recording shorter than one window gives one estimate over all of it).

    Returns:
        One estimate per window, in time order.

    Raises:
        ValueError: ``window_s`` or ``hop_s`` not positive.
    """
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window_s and hop_s must be positive")
    return [
        estimate_window(signal[a:b], rate, start_s=a / rate)
        for a, b in _spans(len(signal), rate, window_s, hop_s)
    ]


def estimate_heart_rate(
    signal: npt.NDArray[np.floating],
    rate: int = WORKING_RATE,
    *,
    window_s: float = 10.0,
    hop_s: float = 5.0,
) -> HeartRateEstimate:
    """Estimate the heart rate of a whole recording.

    The envelope ACFs of overlapping windows are averaged, skipping windows too noisy
    to be periodic at all, and the period is chosen once on the average.

    Args:
        signal: mono PCG samples.
        rate: sample rate in Hz.
        window_s: averaging window, seconds.
        hop_s: step between windows, seconds.

    Returns:
        The estimate over the whole recording (``start_s``/``end_s`` give its span).
    """
    seconds = len(signal) / rate
    if seconds < MIN_SECONDS:
        return _too_short(seconds, 0.0, seconds)
    spans = _spans(len(signal), rate, window_s, hop_s)
    acfs = [_acf_of(signal[a:b], rate) for a, b in spans]
    size = min(a.size for a in acfs)
    mean_acf: FloatArray = np.mean([a[:size] for a in acfs], axis=0)
    overall = _from_acf(mean_acf, 0.0, seconds, min_quality=0.0)
    if overall.bpm is None:
        return overall
    # Quality: periodicity of the averaged ACF, discounted when the windows disagree
    # with the overall rate (a rate that only holds on average is not trustworthy).
    agree = [
        w.bpm is not None and abs(w.bpm - overall.bpm) <= _AGREE_TOLERANCE * overall.bpm
        for w in (_from_acf(a, 0.0, 0.0, min_quality=0.0) for a in acfs)
    ]
    quality = overall.quality * (0.5 + 0.5 * float(np.mean(agree)))
    # One window has nothing to agree with: hold it to the single-window standard.
    threshold = MIN_QUALITY if len(acfs) > 1 else MIN_WINDOW_QUALITY
    return _judged(overall.bpm, quality, 0.0, seconds, threshold)
