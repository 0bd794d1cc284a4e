"""Heart-sound segmentation: S1, systole, S2, diastole, by a duration-dependent HMM.

The method of Springer, Tarassenko and Clifford (IEEE TBME 2016, "Logistic regression-HSMM
based heart sound segmentation"), the segmenter behind most 2016 challenge entries, in
numpy/scipy (no maintained Python package of it exists; the reference is MATLAB):

1. Band-pass 25-400 Hz; four envelopes at 50 Hz, each standardised per recording:
   homomorphic (low-passed log of the Hilbert envelope), Hilbert, the 40-60 Hz
   short-time power (Springer's PSD feature) and a 100-200 Hz band envelope (standing in
   for his wavelet envelope).
2. Emission model per state. Springer uses logistic regression; we fit one Gaussian per
   state on the same features over the hand-corrected annotations (closed form, four
   means and covariances in a small JSON): the HSMM's duration model does most of the
   work of telling S1 from S2.
3. Durations: Gaussian per state from the recording's heart rate and systolic interval,
   with Springer's constants (S1 122 ms, S2 94 ms, ±22 ms; systole and diastole from the
   autocorrelation of the homomorphic envelope).
4. Explicit-duration Viterbi over the cycle S1 -> systole -> S2 -> diastole -> S1; the
   first and last segments may be cut by the recording's edges.

Pure computation (numpy/scipy, no torch: the device runs it): the caller brings a
validated 2 kHz signal (``signals.audio``). The CNN's input carries the state sequence
(:mod:`signals.features`), so training and the device segment with this same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.fft import next_fast_len
from scipy.signal import butter, hilbert, sosfiltfilt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STATES: tuple[str, ...] = ("S1", "systole", "S2", "diastole")
FEATURE_RATE: int = 50
"""Frames per second of the envelopes and of the state sequence (Springer's rate)."""

N_FEATURES = 4
_S1_MEAN, _S2_MEAN, _SOUND_SD = 0.122, 0.094, 0.022  # seconds (Springer 2016)
_LOG = np.log


@lru_cache(maxsize=8)
def _sos(rate: int, low: float, high: float) -> npt.NDArray[np.float64]:
    return np.asarray(butter(4, [low, high], btype="bandpass", fs=rate, output="sos"))


def _downsample(x: FloatArray, rate: int) -> FloatArray:
    """Mean over blocks of ``rate / FEATURE_RATE`` samples."""
    step = rate // FEATURE_RATE
    n = x.size // step
    return np.asarray(x[: n * step].reshape(n, step).mean(axis=1))


def _standardise(x: FloatArray) -> FloatArray:
    sd = float(x.std())
    centred: FloatArray = x - x.mean()
    return centred / sd if sd > 1e-12 else centred


def _hilbert_envelope(x: FloatArray) -> FloatArray:
    """|analytic signal|, with the FFT padded to a fast length (a prime length is slow)."""
    return np.asarray(np.abs(hilbert(x, N=next_fast_len(x.size)))[: x.size])


def envelopes(signal: npt.ArrayLike, rate: int = 2000) -> FloatArray:
    """The four segmentation features at 50 Hz, standardised: shape ``(frames, 4)``.

    Args:
        signal: mono samples at ``rate`` (a multiple of 50 Hz, at least 1000 Hz).
        rate: sample rate in Hz.

    Returns:
        float64 ``(n_frames, 4)``: homomorphic, Hilbert, 40-60 Hz power, 100-200 Hz.
    """
    x = np.asarray(signal, dtype=np.float64)
    x = sosfiltfilt(_sos(rate, 25.0, 400.0), x)
    analytic = _hilbert_envelope(x)
    lp = np.asarray(butter(1, 8.0, btype="low", fs=rate, output="sos"))
    homomorphic = np.exp(sosfiltfilt(lp, np.log(analytic + 1e-10)))
    low_band = _hilbert_envelope(sosfiltfilt(_sos(rate, 40.0, 60.0), x)) ** 2
    high_band = _hilbert_envelope(sosfiltfilt(_sos(rate, 100.0, 200.0), x))
    feats = [_downsample(f, rate) for f in (homomorphic, analytic, low_band, high_band)]
    return np.stack([_standardise(f) for f in feats], axis=1)


@dataclass(frozen=True)
class EmissionModel:
    """One Gaussian per state over the four envelopes (fitted on annotations).

    Attributes:
        means: ``(4 states, 4 features)``.
        covariances: ``(4 states, 4, 4)``.
    """

    means: FloatArray
    covariances: FloatArray

    def log_likelihood(self, feats: FloatArray) -> FloatArray:
        """``log p(o_t | state)`` for every frame: shape ``(frames, 4 states)``."""
        out = np.empty((feats.shape[0], len(STATES)))
        for j in range(len(STATES)):
            diff = feats - self.means[j]
            cov = self.covariances[j]
            inv = np.linalg.inv(cov)
            _sign, logdet = np.linalg.slogdet(cov)
            maha = np.einsum("ti,ij,tj->t", diff, inv, diff)
            out[:, j] = -0.5 * (maha + logdet + N_FEATURES * _LOG(2 * np.pi))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain lists for JSON."""
        return {"means": self.means.tolist(), "covariances": self.covariances.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmissionModel:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["means"], float), np.asarray(data["covariances"], float))

    @classmethod
    def fit(cls, feats: list[FloatArray], states: list[IntArray]) -> EmissionModel:
        """Means and covariances of each state's frames (regularised by 1e-3 I).

        Args:
            feats: per recording, ``(frames, 4)`` from :func:`envelopes`.
            states: per recording, the state index (0-3) of every frame.

        Returns:
            The model.
        """
        x = np.concatenate(feats)
        y = np.concatenate(states)
        means = np.stack([x[y == j].mean(axis=0) for j in range(len(STATES))])
        covs = np.stack(
            [np.cov(x[y == j].T) + 1e-3 * np.eye(N_FEATURES) for j in range(len(STATES))]
        )
        return cls(means, covs)


SHIPPED_EMISSIONS = "segmenter.json"


def shipped_emissions() -> EmissionModel:
    """The emission model fitted on the training part's annotations (``signals/segmenter.json``)."""
    path = Path(str(resources.files("signals").joinpath(SHIPPED_EMISSIONS)))
    return EmissionModel.from_dict(json.loads(path.read_text())["emissions"])


def cycle_timing(feats: FloatArray, bpm: float | None = None) -> tuple[float, float]:
    """Heart cycle and systolic interval in seconds, from the homomorphic envelope's ACF.

    Springer's rule: the cycle is the ACF's highest peak between 0.3 s and 2 s (here
    taken from ``bpm`` when the caller has a better estimate), the systolic interval
    (S1 onset to S2 onset) its highest peak between 0.2 s and half the cycle.

    Args:
        feats: from :func:`envelopes`.
        bpm: heart rate from ``signals.heart_rate`` if known.

    Returns:
        ``(cycle_s, systole_s)``.
    """
    env = feats[:, 0] - feats[:, 0].mean()
    acf = np.correlate(env, env, mode="full")[env.size - 1 :]
    acf = acf / (acf[0] + 1e-12)
    fs = FEATURE_RATE
    if bpm is not None and 30.0 <= bpm <= 200.0:
        cycle = 60.0 / bpm
    else:
        lo, hi = int(0.3 * fs), min(int(2.0 * fs), acf.size - 1)
        cycle = (lo + int(np.argmax(acf[lo:hi]))) / fs if hi > lo else 0.8
    lo, hi = int(0.2 * fs), max(int(0.2 * fs) + 1, int(cycle / 2 * fs))
    hi = min(hi, acf.size - 1)
    systole = (lo + int(np.argmax(acf[lo:hi]))) / fs if hi > lo else 0.3
    return cycle, systole


def _duration_logpdf(cycle: float, systole: float, max_d: int) -> FloatArray:
    """``log p(d | state)`` for d = 1..max_d frames: shape ``(4, max_d)``."""
    fs = FEATURE_RATE
    sys_mean = max(systole - _S1_MEAN, 0.05)
    dia_mean = max(cycle - systole - _S2_MEAN, 0.1)
    params = [
        (_S1_MEAN * fs, _SOUND_SD * fs),
        (sys_mean * fs, 0.025 * fs + 0.1 * sys_mean * fs),
        (_S2_MEAN * fs, _SOUND_SD * fs),
        (dia_mean * fs, 0.07 * dia_mean * fs + 0.006 * fs),
    ]
    d = np.arange(1, max_d + 1, dtype=np.float64)
    out = np.empty((len(STATES), max_d))
    for j, (mu, sd) in enumerate(params):
        out[j] = -0.5 * ((d - mu) / sd) ** 2 - _LOG(sd)
        out[j] -= np.logaddexp.reduce(out[j])  # normalised over 1..max_d
    return out


def viterbi(log_b: FloatArray, log_d: FloatArray) -> IntArray:
    """Explicit-duration Viterbi over the cycle S1 -> systole -> S2 -> diastole.

    Args:
        log_b: ``(T, 4)`` emission log-likelihoods.
        log_d: ``(4, D)`` duration log-probabilities for 1..D frames.

    Returns:
        int64 ``(T,)`` state index per frame.
    """
    n_t, n_s = log_b.shape
    max_d = log_d.shape[1]
    cum = np.vstack([np.zeros((1, n_s)), np.cumsum(log_b, axis=0)])  # cum[t] = sum b[:t]
    delta = np.full((n_t, n_s), -np.inf)  # best path with a segment of j ending at t
    back_d = np.zeros((n_t, n_s), dtype=np.int64)
    prev_state = (np.arange(n_s) - 1) % n_s
    for t in range(n_t):  # all four states at once; a loop over t is inherent to Viterbi
        d = np.arange(1, min(max_d, t + 1) + 1)
        starts = t + 1 - d
        emit = cum[t + 1][None, :] - cum[starts]  # (D, states)
        inner = starts > 0
        prev = np.zeros((d.size, n_s))
        prev[inner] = delta[starts[inner] - 1][:, prev_state]
        # a segment starting at frame 0 is cut by the edge: no duration term
        dur = np.where(inner[:, None], log_d[:, d - 1].T, 0.0)
        score = prev + dur + emit
        k = np.argmax(score, axis=0)
        delta[t] = score[k, np.arange(n_s)]
        back_d[t] = d[k]
    # the last segment may be cut too: choose the end state without its duration term
    states = np.empty(n_t, dtype=np.int64)
    best_end = -np.inf
    end_j, end_d = 0, 1
    for j in range(n_s):
        for dd in range(1, min(max_d, n_t) + 1):
            s = n_t - dd
            before = float(delta[s - 1, (j - 1) % n_s]) if s > 0 else 0.0
            end_score = before + float(cum[n_t, j] - cum[s, j])
            if end_score > best_end:
                best_end, end_j, end_d = end_score, j, dd
    t, j, d_len = n_t - 1, end_j, end_d
    while t >= 0:
        states[t - d_len + 1 : t + 1] = j
        t -= d_len
        j = (j - 1) % n_s
        if t >= 0:
            d_len = int(back_d[t, j])
    return states


def segment(
    signal: npt.ArrayLike,
    rate: int = 2000,
    *,
    bpm: float | None = None,
    emissions: EmissionModel | None = None,
) -> IntArray:
    """State of every 20 ms frame of a recording: 0 S1, 1 systole, 2 S2, 3 diastole.

    Args:
        signal: mono samples at ``rate`` (at least 2 s).
        rate: sample rate in Hz (a multiple of 50).
        bpm: the recording's heart rate if the caller knows it; otherwise the
            envelope's autocorrelation decides (Springer's rule).
        emissions: emission model (default: the shipped one).

    Returns:
        int64 ``(n_frames,)`` at :data:`FEATURE_RATE`.
    """
    feats = envelopes(signal, rate)
    cycle, systole = cycle_timing(feats, bpm)
    max_d = int(np.ceil(1.5 * cycle * FEATURE_RATE)) + 2
    model = emissions if emissions is not None else shipped_emissions()
    return viterbi(model.log_likelihood(feats), _duration_logpdf(cycle, systole, max_d))


def sound_centres(states: IntArray, which: int) -> FloatArray:
    """Centres, in seconds, of the runs of one state (0 for S1, 2 for S2)."""
    mask = np.concatenate([[False], states == which, [False]])
    edges = np.flatnonzero(np.diff(mask.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    return np.asarray((starts + stops) / 2.0 / FEATURE_RATE)
