"""Heart-cycle features that do not depend on the stethoscope: ratios within one recording.

Within one recording the stethoscope and the site act, to a first approximation, as one
linear filter H(f) on every frame: in a narrow band, every heart-cycle state's energy is
scaled by the same |H(f_band)|^2. Ratios of band energies between two states of the
same recording in the same band cancel it, and the gain with it. Murmurs add energy to
systole or diastole relative to the heart sounds S1 and S2. Leave-one-set-out, a
logistic regression on these features generalises better to an unseen stethoscope than
the CNN on log-mel spectra (docs/model.md, "Cycle features").

Per recording (2 kHz, as ``signals.audio`` delivers it):

1. Segment it (``signals.segmentation``): one state per 20 ms frame.
2. Eight log-spaced bands over 25-800 Hz (4th-order Butterworth, zero phase); per band
   the mean power of every 20 ms frame.
3. Complete cycles (S1, systole, S2, diastole, then S1 again; the runs cut by the edges
   are left out); per cycle and band the mean power of S1 and S2 and of the middle 60 %
   of systole and diastole (so that S1/S2 leaking through imprecise boundaries does not
   dominate).
4. Per-cycle log ratios, summarised by the median over cycles (robust to bad cycles)
   and a robust spread (IQR / 1.349). With fewer than :data:`MIN_CYCLES` complete cycles
   the ratios come from the state-pooled energies of the whole recording.

Features (``k`` = band 0..7, edges :data:`BAND_EDGES`):
  sys_s1_k     median log(E_systole,k / E_S1,k): systolic murmur against S1
  dia_s2_k     median log(E_diastole,k / E_S2,k): diastolic murmur against S2
  sys_dia_k    median log(E_systole,k / E_diastole,k)
  s2_s1_k      median log(E_S2,k / E_S1,k): relative loudness of S2
  sd_sys_s1    mean over bands of the cycle-to-cycle robust sd of log(E_sys / E_S1)
  sd_dia_s2    the same for log(E_dia / E_S2)
  flat_sys     spectral flatness of the systolic profile exp(sys_s1_k) (a murmur is broad)
  flat_dia     the same for exp(dia_s2_k)
  tilt_sys     mean sys_s1_k over bands >= 141 Hz minus the mean below
  tilt_dia     the same for dia_s2_k
  hr           60 / median S1-to-S1 interval, bpm
  rr_cv        robust sd / median of those intervals (rhythm irregularity)
  sys_frac     median systole duration / cycle
  sys_frac_sd  its robust sd over cycles
  periodicity  highest autocorrelation of the homomorphic envelope at 0.3-2 s lags

A feature that cannot be computed (too few cycles) is NaN; the model imputes it.
Pure numpy/scipy: the device runs it.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfiltfilt

from signals.segmentation import FEATURE_RATE, envelopes, segment

FloatArray = npt.NDArray[np.float64]

RATE = 2000
FRAME = RATE // FEATURE_RATE  # 40 samples = 20 ms, the segmentation's frame
N_BANDS = 8
BAND_EDGES: FloatArray = np.geomspace(25.0, 800.0, N_BANDS + 1)
TILT_SPLIT_HZ = 141.0
MIN_CYCLES = 3
TRIM = 0.2  # share of each systole / diastole run dropped at either end
_S1, _SYS, _S2, _DIA = range(4)

_SOS = [
    butter(4, [lo, hi], btype="bandpass", fs=RATE, output="sos")
    for lo, hi in itertools.pairwise(BAND_EDGES)
]


def feature_names() -> list[str]:
    """The names of :func:`recording_features`' values, in order."""
    names = [f"{stem}_{k}" for stem in ("sys_s1", "dia_s2", "sys_dia", "s2_s1") for k in range(8)]
    return [
        *names,
        "sd_sys_s1",
        "sd_dia_s2",
        "flat_sys",
        "flat_dia",
        "tilt_sys",
        "tilt_dia",
        "hr",
        "rr_cv",
        "sys_frac",
        "sys_frac_sd",
        "periodicity",
    ]


def _band_frame_power(x: FloatArray, n_frames: int) -> FloatArray:
    """(bands, frames): mean squared band-passed signal per 20 ms frame."""
    out = np.empty((N_BANDS, n_frames))
    for k, sos in enumerate(_SOS):
        y = sosfiltfilt(sos, x)
        out[k] = (y[: n_frames * FRAME] ** 2).reshape(n_frames, FRAME).mean(axis=1)
    return out


def _runs(states: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """(state, start, stop) of each run of equal states."""
    change = np.flatnonzero(np.diff(states)) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, states.size]
    return [(int(states[s]), int(s), int(e)) for s, e in zip(starts, stops, strict=True)]


def _interior(start: int, stop: int) -> slice:
    trim = int(TRIM * (stop - start))
    if stop - start - 2 * trim < 1:
        trim = 0
    return slice(start + trim, stop - trim)


def _robust_sd(values: FloatArray) -> float:
    values = values[np.isfinite(values)]
    if values.size < 3:
        return float("nan")
    q75, q25 = np.percentile(values, [75, 25])
    return float((q75 - q25) / 1.349)


def _flatness(log_profile: FloatArray) -> float:
    p = np.exp(log_profile - log_profile.max())
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def _periodicity(x: FloatArray) -> float:
    env = envelopes(x, RATE)[:, 0]
    env = env - env.mean()
    acf = np.correlate(env, env, mode="full")[env.size - 1 :]
    acf = acf / (acf[0] + 1e-12)
    lo, hi = int(0.3 * FEATURE_RATE), min(int(2.0 * FEATURE_RATE), acf.size - 1)
    return float(acf[lo:hi].max()) if hi > lo else float("nan")


def recording_features(
    signal: npt.ArrayLike, states: npt.NDArray[np.int64] | None = None
) -> FloatArray:
    """The features of one 2 kHz recording, in :func:`feature_names` order (NaN: unknown).

    ``states``: the segmenter's states of this very signal when the caller already has
    them (the device segments once for the score and the rhythm); else segmented here.
    """
    x = np.asarray(signal, dtype=np.float64)
    if states is None:
        states = segment(x, RATE)
    power = _band_frame_power(x, states.size)
    eps = 1e-8 * power.mean(axis=1) + 1e-20  # per band, the same in every state
    runs = _runs(states)
    cycles: list[tuple[FloatArray, int, int]] = []  # (E[state, band], cycle, systole) frames
    for i in range(1, len(runs) - 4):
        s1, sys, s2, dia, nxt = runs[i : i + 5]
        if [r[0] for r in (s1, sys, s2, dia, nxt)] != [_S1, _SYS, _S2, _DIA, _S1]:
            continue
        energy = np.stack(
            [
                power[:, s1[1] : s1[2]].mean(axis=1),
                power[:, _interior(sys[1], sys[2])].mean(axis=1),
                power[:, s2[1] : s2[2]].mean(axis=1),
                power[:, _interior(dia[1], dia[2])].mean(axis=1),
            ]
        )
        cycles.append((energy + eps, nxt[1] - s1[1], sys[2] - sys[1]))
    if len(cycles) >= MIN_CYCLES:
        log_e = np.log(np.stack([c[0] for c in cycles]))  # (cycles, states, bands)
    else:  # state-pooled energies of the whole recording
        pooled, counts = np.zeros((4, N_BANDS)), np.zeros(4)
        for state, start, stop in runs:
            part = _interior(start, stop) if state in (_SYS, _DIA) else slice(start, stop)
            pooled[state] += power[:, part].sum(axis=1)
            counts[state] += part.stop - part.start
        log_e = np.log(pooled / np.maximum(counts, 1)[:, None] + eps)[None]
    ratios = [
        log_e[:, _SYS] - log_e[:, _S1],
        log_e[:, _DIA] - log_e[:, _S2],
        log_e[:, _SYS] - log_e[:, _DIA],
        log_e[:, _S2] - log_e[:, _S1],
    ]
    medians = [np.median(r, axis=0) for r in ratios]
    if len(cycles) >= MIN_CYCLES:
        sd_sys = float(np.mean([_robust_sd(ratios[0][:, k]) for k in range(N_BANDS)]))
        sd_dia = float(np.mean([_robust_sd(ratios[1][:, k]) for k in range(N_BANDS)]))
    else:
        sd_sys = sd_dia = float("nan")
    high = BAND_EDGES[:-1] >= TILT_SPLIT_HZ
    tilts = [float(m[high].mean() - m[~high].mean()) for m in medians[:2]]
    hr = rr_cv = sys_frac = sys_frac_sd = float("nan")
    if len(cycles) >= 2:
        rr = np.array([c[1] for c in cycles], dtype=np.float64) / FEATURE_RATE
        systole = np.array([c[2] for c in cycles], dtype=np.float64) / FEATURE_RATE
        rr_median = float(np.median(rr))
        hr, rr_cv = 60.0 / rr_median, _robust_sd(rr) / rr_median
        sys_frac, sys_frac_sd = float(np.median(systole / rr)), _robust_sd(systole / rr)
    features: FloatArray = np.r_[
        np.concatenate(medians),
        [sd_sys, sd_dia, _flatness(medians[0]), _flatness(medians[1]), *tilts],
        [hr, rr_cv, sys_frac, sys_frac_sd, _periodicity(x)],
    ]
    return features
