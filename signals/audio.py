"""Load and validate heart-sound audio for the device and for evaluation.

One job: turn a file (``.wav`` from the device, ``.flac`` from the PhysioNet data) or an
in-memory array into a validated mono float32 signal at one working rate, or raise
:class:`AudioError` with a message that names the file and what is wrong with it.

Checks, in order: readable audio, not empty, sample rate high enough for the heart-sound
band (25-400 Hz needs at least 1000 Hz), finite samples, not silent, not heavily clipped
(judged at the recording's own rate, before resampling adds overshoot), long enough.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy.signal import resample_poly

FloatArray = npt.NDArray[np.float32]

WORKING_RATE: int = 2000
"""Rate in Hz of every signal handed to the estimator and the CNN (PhysioNet's rate)."""

MIN_RATE: int = 1000
"""Lowest accepted input rate: its 500 Hz Nyquist still holds the 25-400 Hz PCG band."""

SILENCE_PEAK: float = 1e-3
"""Peak amplitude (full scale 1.0) below which a recording counts as silent (-60 dBFS)."""

CLIP_FRACTION: float = 0.01
"""Fraction of samples sitting at the peak level above which a recording is 'clipped'."""

MIN_SECONDS: float = 2.0
"""Shortest accepted recording: two to three beats, enough for an abnormality score (many
public heart-sound sets hold 2 s clips). A heart rate needs more
(``signals.heart_rate.MIN_SECONDS``); a shorter recording then gets a score, no rate."""

_CLIP_LEVEL = 0.999  # a sample within 0.1 % of the peak magnitude sits "at the peak"


class AudioError(ValueError):
    """A recording that cannot be used; the message names the source and the problem."""


def _first_channel(signal: npt.NDArray[np.generic], source: str) -> npt.NDArray[np.generic]:
    if signal.ndim == 1:
        return signal
    if signal.ndim == 2:
        # (samples, channels), as soundfile returns it: the stethoscope is channel 0.
        return signal[:, 0]
    raise AudioError(
        f"{source}: expected mono or (samples, channels) audio, got shape {signal.shape}"
    )


def _check_rate(rate: int, source: str) -> None:
    if rate < MIN_RATE:
        raise AudioError(
            f"{source}: sample rate {rate} Hz is too low (need at least {MIN_RATE} Hz "
            "to hold the 25-400 Hz heart-sound band)"
        )


def validate_signal(
    signal: npt.NDArray[np.generic],
    rate: int,
    *,
    source: str = "signal",
    min_seconds: float = MIN_SECONDS,
) -> FloatArray:
    """Check an in-memory recording (or one streaming window) and return it as float32.

    Args:
        signal: samples, 1-D, or 2-D ``(samples, channels)`` of which channel 0 is used;
            full scale is 1.0.
        rate: sample rate in Hz.
        source: name used in error messages (a file name, "window 3", ...).
        min_seconds: shortest acceptable duration.

    Returns:
        The mono signal as a contiguous float32 array (a copy; the input is not changed).

    Raises:
        AudioError: empty, sample rate too low, NaN/inf samples, silent, heavily clipped
            or shorter than ``min_seconds``.
    """
    mono = _first_channel(np.asarray(signal), source)
    if mono.size == 0:
        raise AudioError(f"{source}: empty (0 samples)")
    _check_rate(rate, source)
    if not np.issubdtype(mono.dtype, np.number) or np.issubdtype(mono.dtype, np.complexfloating):
        raise AudioError(f"{source}: samples must be real numbers, got dtype {mono.dtype}")
    out = np.ascontiguousarray(mono, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        n_nan = int(np.isnan(out).sum())
        raise AudioError(
            f"{source}: {int(bad.sum())} non-finite samples ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} inf)"
        )
    # Silence is judged on the AC part so that a constant DC offset also counts as silent.
    centred = out - np.float32(out.mean())
    peak = float(np.max(np.abs(centred)))
    if peak < SILENCE_PEAK:
        raise AudioError(f"{source}: silent (peak amplitude {peak:.2g})")
    magnitude = np.abs(out)
    top = float(magnitude.max())
    at_peak = float(np.mean(magnitude >= _CLIP_LEVEL * top))
    if at_peak > CLIP_FRACTION:
        raise AudioError(
            f"{source}: heavily clipped ({at_peak:.1%} of samples at the peak level {top:.3g}; "
            f"at most {CLIP_FRACTION:.0%} allowed)"
        )
    seconds = out.size / rate
    if seconds < min_seconds:
        raise AudioError(
            f"{source}: too short ({seconds:.2f} s; need at least {min_seconds:g} s "
            "to hold enough beats)"
        )
    return out


def resample(signal: FloatArray, rate: int, target_rate: int) -> FloatArray:
    """Resample with a polyphase anti-aliasing filter (exact rational ratio).

    Args:
        signal: mono float32 samples.
        rate: their rate in Hz.
        target_rate: wanted rate in Hz.

    Returns:
        float32 samples at ``target_rate`` (the input itself when the rates match).
    """
    if rate == target_rate:
        return signal
    g = math.gcd(rate, target_rate)
    out = resample_poly(signal.astype(np.float64), target_rate // g, rate // g)
    return np.ascontiguousarray(out, dtype=np.float32)


def load_audio(
    path: str | os.PathLike[str],
    *,
    target_rate: int = WORKING_RATE,
    min_seconds: float = MIN_SECONDS,
) -> FloatArray:
    """Read a ``.wav``/``.flac`` recording as validated mono float32 at ``target_rate``.

    Args:
        path: the audio file; any rate of at least 1000 Hz, mono or multi-channel
            (the first channel is used).
        target_rate: rate of the returned signal, Hz.
        min_seconds: shortest acceptable duration.

    Returns:
        Mono float32 samples at ``target_rate``, full scale 1.0.

    Raises:
        AudioError: missing or unreadable file, not audio, or any problem that
            :func:`validate_signal` rejects (checked at the file's own rate).
    """
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise AudioError(f"{name}: no such file")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{name}: unreadable or not audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{name}: empty (0 samples)")
    mono = validate_signal(data, int(rate), source=name, min_seconds=min_seconds)
    return resample(mono, int(rate), target_rate)
