"""Waveform augmentation that imitates other stethoscopes, rooms and sample rates.

Training only (numpy/scipy, no torch). Each transform is one a device in the field could
impose on the same heart: a different transducer response (random band-pass and a
tilted EQ), another recording chain's rate (resampling through 4 kHz or 8 kHz, i.e.
down- and up-sampling with another anti-alias filter), a gain, background noise at a
random SNR, and a small time-stretch (another clock, or a slightly different heart rate).
The log-mel front end normalises each band per window, so a fixed EQ alone changes little;
the band edges, the noise floor and the rate chain are what the net must learn to ignore.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, resample_poly, sosfilt

FloatArray = npt.NDArray[np.float32]
RATE = 2000


def _band_pass(x: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A random transducer: high-pass 10-60 Hz, low-pass 300-950 Hz, order 1-4."""
    low = float(rng.uniform(10.0, 60.0))
    high = float(rng.uniform(300.0, 950.0))
    order = int(rng.integers(1, 5))
    sos = butter(order, [low, high], btype="bandpass", fs=RATE, output="sos")
    return np.asarray(sosfilt(sos, x))


def _tilt(x: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A spectral tilt of -6..+6 dB/octave around 150 Hz, made in the FFT domain."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / RATE)
    slope_db = float(rng.uniform(-6.0, 6.0))
    octaves = np.log2(np.maximum(freqs, 20.0) / 150.0)
    spec *= 10.0 ** (slope_db * octaves / 20.0)
    return np.fft.irfft(spec, n=x.size)


def _rate_chain(x: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Down to 1 kHz-ish or via 4/8 kHz and back: another chain's anti-alias filter."""
    up = int(rng.choice([2, 4]))  # through 4 kHz or 8 kHz
    y = resample_poly(resample_poly(x, up, 1), 1, up)
    return np.asarray(y[: x.size])


def _stretch(
    x: npt.NDArray[np.float64], rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], float]:
    """Time-stretch by 0.9-1.1 (rational resampling; pitch moves with it, as with a clock).

    Returns the stretched samples and input samples per output sample.
    """
    factor = float(rng.uniform(0.9, 1.1))
    up = 100
    down = max(1, round(up * factor))
    g = math.gcd(up, down)
    return np.asarray(resample_poly(x, up // g, down // g)), down / up


def _noise(x: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """White, pink or brown noise at 5-30 dB SNR (room, skin rub, electronics)."""
    colour = int(rng.integers(0, 3))
    white = rng.standard_normal(x.size)
    if colour == 0:
        noise = white
    else:
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(x.size, 1.0 / RATE), 1.0)
        spec /= f ** (0.5 * colour)  # pink: 1/f power, brown: 1/f^2
        noise = np.fft.irfft(spec, n=x.size)
    snr_db = float(rng.uniform(5.0, 30.0))
    p_sig = float(np.mean(x * x)) + 1e-12
    p_noise = float(np.mean(noise * noise)) + 1e-12
    return x + noise * math.sqrt(p_sig / p_noise / 10.0 ** (snr_db / 10.0))


def augment(
    segment: npt.ArrayLike, rng: np.random.Generator, length: int
) -> tuple[FloatArray, float]:
    """One random "other device" version of a 2 kHz segment, cut to ``length`` samples.

    Args:
        segment: at least ``ceil(1.1 * length)`` samples at 2 kHz (room for the stretch).
        rng: the training run's generator (reproducible by seed).
        length: samples to return.

    Returns:
        float32 ``(length,)`` and the time ratio (input samples per output sample, 1.0
        unless stretched), so the caller can map positions back to the segment.

    Raises:
        ValueError: if the segment is too short for ``length`` after stretching.
    """
    x = np.asarray(segment, dtype=np.float64)
    ratio = 1.0
    if rng.random() < 0.5:
        x, ratio = _stretch(x, rng)
    if x.size < length:
        raise ValueError(f"segment of {x.size} samples is shorter than {length}")
    x = x[:length]
    if rng.random() < 0.6:
        x = _band_pass(x, rng)
    if rng.random() < 0.5:
        x = _tilt(x, rng)
    if rng.random() < 0.3:
        x = _rate_chain(x, rng)
    if rng.random() < 0.5:
        x = _noise(x, rng)
    x *= 10.0 ** (float(rng.uniform(-20.0, 20.0)) / 20.0)
    return np.ascontiguousarray(x, dtype=np.float32), ratio
