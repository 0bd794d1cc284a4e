"""The one feature function shared by training and the device: per-window log-mel.

Everything that shapes the CNN input lives here, with every librosa default spelled out
(librosa assumes 22 050 Hz audio: its default ``n_fft=2048`` and ``fmax=sr/2`` make no
sense for a 2 kHz phonocardiogram). Training (``model.data``) and the device
(``client.scoring``) both call :func:`window_features` / :func:`recording_windows`, so the
bytes the network sees are computed by the same code on both sides.

numpy and librosa only: this module is imported on the device, where torch is absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import librosa
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the log-mel front end (saved next to the model as JSON).

    Attributes:
        sample_rate: expected input rate in Hz (the working rate of ``client.audio``).
        window_seconds: length of one CNN window.
        hop_seconds: step between windows of a recording (training and scoring).
        win_length: analysis frame, samples (50 = 25 ms at 2 kHz).
        hop_length: frame step, samples (20 = 10 ms at 2 kHz).
        n_fft: FFT size; the 25 ms frame is zero-padded to it so 32 mel bands over
            25-400 Hz each get FFT bins (at n_fft=50 the bins are 40 Hz apart).
        n_mels: mel bands.
        fmin: lowest band edge, Hz (below 25 Hz is movement and DC).
        fmax: highest band edge, Hz (S1/S2 and most murmur energy lie below 400 Hz).
        log_floor: added before the log, relative to the unit-RMS window.
    """

    sample_rate: int = 2000
    window_seconds: float = 5.0
    hop_seconds: float = 2.5
    win_length: int = 50
    hop_length: int = 20
    n_fft: int = 256
    n_mels: int = 32
    fmin: float = 25.0
    fmax: float = 400.0
    log_floor: float = 1e-6

    @property
    def window_samples(self) -> int:
        """Samples in one CNN window."""
        return round(self.window_seconds * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        """Samples between consecutive CNN windows."""
        return round(self.hop_seconds * self.sample_rate)

    @property
    def n_frames(self) -> int:
        """Time frames per window (no centring/padding: frames lie inside the window)."""
        return 1 + (self.window_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureParams:
        """Inverse of :meth:`to_dict`; unknown keys are rejected.

        Args:
            data: the ``features`` object of the model JSON.

        Returns:
            The parameters.

        Raises:
            TypeError: on unknown keys.
        """
        return cls(**data)


DEFAULT_PARAMS = FeatureParams()


@lru_cache(maxsize=8)
def _mel_basis(params: FeatureParams) -> FloatArray:
    basis = librosa.filters.mel(
        sr=params.sample_rate,
        n_fft=params.n_fft,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
        htk=False,
        norm="slaney",
        dtype=np.float32,
    )
    return np.ascontiguousarray(basis, dtype=np.float32)


@lru_cache(maxsize=8)
def _mel_support(params: FeatureParams) -> tuple[npt.NDArray[np.float64], int, int]:
    """The mel basis restricted to the FFT bins it touches (25-400 Hz of 0-1000 Hz)."""
    basis = _mel_basis(params).astype(np.float64)
    cols = np.flatnonzero(basis.sum(axis=0) > 0)
    lo, hi = int(cols[0]), int(cols[-1]) + 1
    return np.ascontiguousarray(basis[:, lo:hi]), lo, hi


@lru_cache(maxsize=8)
def _hann(win_length: int) -> FloatArray:
    # Periodic Hann, as librosa/scipy use for STFT analysis.
    return np.asarray(librosa.filters.get_window("hann", win_length, fftbins=True), np.float32)


def window_features(window: npt.ArrayLike, params: FeatureParams = DEFAULT_PARAMS) -> FloatArray:
    """Log-mel of one window, normalised per window: shape ``(n_mels, n_frames)``.

    Steps: remove the mean, scale to unit RMS (gain of stethoscopes differs by set),
    frame (25 ms Hann, 10 ms hop, no padding), power spectrum, mel (25-400 Hz),
    ``log(mel + log_floor)``, then subtract the window's mean and divide by its
    standard deviation (so the CNN sees shape, not loudness).

    Args:
        window: exactly ``params.window_samples`` samples at ``params.sample_rate``.
        params: front-end parameters.

    Returns:
        float32 array ``(params.n_mels, params.n_frames)``.

    Raises:
        ValueError: if the window is not 1-D with the expected length, or not finite.
    """
    x = np.asarray(window, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != params.window_samples:
        raise ValueError(f"expected a 1-D window of {params.window_samples} samples, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("window contains NaN or infinite samples")
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x * x)))
    x = x / rms if rms > 1e-12 else x
    frames = np.lib.stride_tricks.sliding_window_view(x, params.win_length)[:: params.hop_length]
    frames = frames[: params.n_frames] * _hann(params.win_length)
    spec = np.abs(np.fft.rfft(frames, n=params.n_fft, axis=1)) ** 2  # (frames, bins)
    basis, lo, hi = _mel_support(params)
    # einsum without BLAS: a BLAS matmul this small spends its time waking threads
    # (measured 100 ms vs 4 ms per window on a busy 2-core machine).
    mel = np.einsum("mf,tf->mt", basis, spec[:, lo:hi], optimize=False)  # (n_mels, frames)
    logmel = np.log(mel + params.log_floor)
    logmel -= logmel.mean()
    std = float(logmel.std())
    if std > 1e-12:
        logmel /= std
    out: FloatArray = logmel.astype(np.float32)
    return out


def window_starts(n_samples: int, params: FeatureParams = DEFAULT_PARAMS) -> list[int]:
    """Start samples of the windows that cover a recording.

    Windows step by ``hop_samples``; a last window is aligned to the end so the tail is
    not dropped. A recording shorter than one window yields one start (0): see
    :func:`recording_windows` for how it is padded.

    Args:
        n_samples: recording length in samples.
        params: front-end parameters.

    Returns:
        Sorted, unique start indices.
    """
    win, hop = params.window_samples, params.hop_samples
    if n_samples <= win:
        return [0]
    starts = list(range(0, n_samples - win + 1, hop))
    if starts[-1] != n_samples - win:
        starts.append(n_samples - win)
    return starts


def recording_windows(signal: npt.ArrayLike, params: FeatureParams = DEFAULT_PARAMS) -> FloatArray:
    """Features of every window of a recording: shape ``(n_windows, 1, n_mels, n_frames)``.

    A recording shorter than one window is tiled (repeated) to the window length:
    heart sounds are quasi-periodic, so repetition distorts them less than silence.

    Args:
        signal: mono samples at ``params.sample_rate`` (validated upstream by
            ``client.audio``).
        params: front-end parameters.

    Returns:
        float32 batch ready for the CNN.

    Raises:
        ValueError: if the signal is empty, not 1-D, or not finite.
    """
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty 1-D signal, got shape {x.shape}")
    win = params.window_samples
    if x.shape[0] < win:
        x = np.resize(x, win)  # np.resize repeats the data cyclically
    starts = window_starts(x.shape[0], params)
    feats = [window_features(x[s : s + win], params) for s in starts]
    return np.stack(feats)[:, None, :, :]
