"""The one feature function shared by training and the device: per-window log-mel.

Everything that shapes the CNN input lives here, with every librosa default spelled out
(librosa assumes 22 050 Hz audio: its default ``n_fft=2048`` and ``fmax=sr/2`` make no
sense for a 2 kHz phonocardiogram). Training (``model.data``) and the device
(``signals.scoring``) both call :func:`window_features` / :func:`recording_windows`, so the
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
        sample_rate: expected input rate in Hz (the working rate of ``signals.audio``).
        window_seconds: length of one CNN window.
        hop_seconds: step between windows of a recording (training and scoring).
        win_length: analysis frame, samples (80 = 40 ms at 2 kHz).
        hop_length: frame step, samples (40 = 20 ms at 2 kHz: S1 and S2 last 80-150 ms,
            so each spans several frames; half the frames of a 10 ms hop, half the cost).
        n_fft: FFT size; the 40 ms frame is zero-padded to it so 32 mel bands over
            25-400 Hz each get FFT bins.
        n_mels: mel bands.
        fmin: lowest band edge, Hz (below 25 Hz is movement and DC).
        fmax: highest band edge, Hz (S1/S2 and most murmur energy lie below 400 Hz;
            800 Hz was tried and generalised worse across sets, see docs/model.md).
        log_floor: added before the log, relative to the unit-RMS window.
        per_band: subtract each band's mean over the window (cepstral-mean style), which
            removes a stethoscope's fixed frequency response; off by default, because it
            generalised worse across sets in leave-one-set-out runs (docs/model.md).
        segment_states: append four 0/1 channels, one per heart-sound state (S1,
            systole, S2, diastole) from :mod:`signals.segmentation`, aligned to the frames,
            so the CNN knows where systole and diastole are (murmurs live there).
        s1_reference: subtract from each band its mean over the window's S1 frames (from
            the segmenter) instead of the window's mean, meant as the CNN's analogue of
            :mod:`signals.cycle_features`' state ratios (a stethoscope's filter is a
            per-band offset of the log-mel; a murmur is systole or diastole loud against
            S1). An ablation: it was no more invariant in practice and did not generalise
            better across sets (docs/model.md, 2026-12-03); off by default.
    """

    sample_rate: int = 2000
    window_seconds: float = 5.0
    hop_seconds: float = 2.5
    win_length: int = 80
    hop_length: int = 40
    n_fft: int = 256
    n_mels: int = 32
    fmin: float = 25.0
    fmax: float = 400.0
    log_floor: float = 1e-6
    per_band: bool = False
    segment_states: bool = False
    s1_reference: bool = False

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

    @property
    def needs_states(self) -> bool:
        """Whether each frame's heart-sound state must be known (channels or S1 reference)."""
        return self.segment_states or self.s1_reference

    @property
    def n_channels(self) -> int:
        """Rows of one window's feature image: mel bands, plus four state channels."""
        return self.n_mels + (4 if self.segment_states else 0)

    def frame_centres(self) -> npt.NDArray[np.float64]:
        """Centre of each frame of a window, in samples from the window's start."""
        return np.arange(self.n_frames, dtype=np.float64) * self.hop_length + self.win_length / 2.0

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


def state_channels(states: npt.ArrayLike, params: FeatureParams) -> FloatArray:
    """One-hot heart-sound states of a window's frames: shape ``(4, n_frames)``.

    Args:
        states: the state (0-3) of each frame, from :func:`states_at`.
        params: front-end parameters.

    Returns:
        float32 0/1 rows S1, systole, S2, diastole.
    """
    idx = np.asarray(states, dtype=np.int64)
    out = np.zeros((4, params.n_frames), dtype=np.float32)
    out[idx, np.arange(params.n_frames)] = 1.0
    return out


def states_at(
    states: npt.NDArray[np.int64], positions: npt.ArrayLike, sample_rate: int
) -> npt.NDArray[np.int64]:
    """States of a segmented recording at sample positions (nearest 20 ms frame).

    Args:
        states: :func:`signals.segmentation.segment` output (50 Hz frames).
        positions: sample indices into the recording (may be fractional).
        sample_rate: the recording's rate.

    Returns:
        int64 states, one per position (clipped at the recording's edges).
    """
    from signals.segmentation import FEATURE_RATE

    frame = np.floor(np.asarray(positions, dtype=np.float64) * FEATURE_RATE / sample_rate)
    return states[np.clip(frame.astype(np.int64), 0, states.size - 1)]


def window_features(
    window: npt.ArrayLike,
    params: FeatureParams = DEFAULT_PARAMS,
    states: npt.ArrayLike | None = None,
) -> FloatArray:
    """Log-mel of one window, normalised per window: shape ``(n_channels, n_frames)``.

    Steps: remove the mean, scale to unit RMS (gain of stethoscopes differs by set),
    frame (40 ms Hann, 20 ms hop, no padding), power spectrum, mel (25-400 Hz),
    ``log(mel + log_floor)``, then subtract each band's mean over the window
    (``per_band``) or over its S1 frames (``s1_reference``), else the window's mean, and
    divide by the standard deviation, so the CNN sees how each band changes through the
    cardiac cycle, not the transducer's colour or loudness.

    Args:
        window: exactly ``params.window_samples`` samples at ``params.sample_rate``.
        params: front-end parameters.
        states: with ``params.needs_states``, the state of each frame
            (:func:`states_at`); required then, ignored otherwise.

    Returns:
        float32 array ``(params.n_channels, params.n_frames)``.

    Raises:
        ValueError: if the window is not 1-D with the expected length, or not finite,
            or states are needed and missing.
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
    frame_states = np.zeros(0, dtype=np.int64)
    if params.needs_states:
        if states is None:
            raise ValueError("these features need the frames' heart-sound states")
        frame_states = np.asarray(states, dtype=np.int64)
    if params.s1_reference:
        logmel -= _s1_reference(logmel, frame_states)
    elif params.per_band:
        logmel -= logmel.mean(axis=1, keepdims=True)
    else:
        logmel -= logmel.mean()
    std = float(logmel.std())
    if std > 1e-12:
        logmel /= std
    out: FloatArray = logmel.astype(np.float32)
    if params.segment_states:
        out = np.concatenate([out, state_channels(frame_states, params)])
    return out


MIN_S1_FRAMES = 3  # about one S1 (60 ms of 20 ms frames); fewer: the window's own mean


def _s1_reference(
    logmel: npt.NDArray[np.float64], states: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each band's mean over the S1 frames, shape ``(n_mels, 1)``.

    A window whose segmentation found almost no S1 (noise, a failed segmentation) falls
    back to each band's mean over the whole window, which still removes the filter.
    """
    s1 = states == 0
    frames = logmel[:, s1] if int(s1.sum()) >= MIN_S1_FRAMES else logmel
    reference: npt.NDArray[np.float64] = frames.mean(axis=1, keepdims=True)
    return reference


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
    """Features of every window of a recording: ``(n_windows, 1, n_channels, n_frames)``.

    A recording shorter than one window is tiled (repeated) to the window length:
    heart sounds are quasi-periodic, so repetition distorts them less than silence.
    With ``params.needs_states`` the whole (tiled) recording is segmented once and each
    window takes its frames' states from that.

    Args:
        signal: mono samples at ``params.sample_rate`` (validated upstream by
            ``signals.audio``).
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
    if params.needs_states:
        from signals.segmentation import segment

        seq = segment(x, params.sample_rate)
        centres = params.frame_centres()
        feats = [
            window_features(x[s : s + win], params, states_at(seq, s + centres, params.sample_rate))
            for s in starts
        ]
    else:
        feats = [window_features(x[s : s + win], params) for s in starts]
    return np.stack(feats)[:, None, :, :]
