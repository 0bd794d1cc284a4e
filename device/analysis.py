"""Device-side analysis: a recording (or one window of it) -> heart rate estimate and CNN score.

Glue only: audio loading (:mod:`signals.audio`), heart rate from heart sounds
(:mod:`signals.heart_rate`) and the ONNX model (:mod:`signals.scoring`). Nothing here
leaves the device; the device encrypts the two numbers afterwards.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from client.errors import ConfigError, InputError

if TYPE_CHECKING:
    from signals.scoring import AbnormalityScorer

Signal = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Analysis:
    """What the device knows about one recording or window.

    Attributes:
        source: file name (and window) for messages.
        start_s: offset of the window in the recording, seconds.
        duration_s: its length, seconds.
        bpm: estimated heart rate, None when unusable.
        usable: whether a reading should be sent.
        reason: why not, or the estimator's note.
        score: CNN probability of "abnormal" in [0, 1], None when it could not be computed.
    """

    source: str
    start_s: float
    duration_s: float
    bpm: float | None
    usable: bool
    reason: str
    score: float | None


@functools.cache
def default_scorer() -> AbnormalityScorer:
    """The shipped model, loaded once per process."""
    from signals.scoring import AbnormalityScorer

    try:
        return AbnormalityScorer.from_default()
    except FileNotFoundError as exc:
        raise ConfigError(f"the abnormality model is not installed: {exc}") from None


def model_threshold() -> float:
    """The shipped model's decision threshold (probability), from its JSON."""
    threshold: float = default_scorer().threshold
    return threshold


def load(path: str | os.PathLike[str]) -> tuple[Signal, int]:
    """Load a recording for analysis.

    Raises:
        InputError: the file is missing, not audio, silent, clipped or too short (named).
    """
    from signals.audio import WORKING_RATE, AudioError, load_audio

    try:
        return load_audio(path), WORKING_RATE
    except AudioError as exc:
        raise InputError(f"bad recording: {exc}") from None


def analyse_signal(
    signal: Signal, rate: int, source: str, start_s: float = 0.0, *, window: bool = False
) -> Analysis:
    """Heart rate and score of one in-memory signal; never raises for a bad signal.

    Args:
        signal: mono samples at ``rate``.
        rate: sample rate, Hz.
        source: name for messages.
        start_s: offset of this signal in its recording.
        window: judge it as one streaming window (stricter quality bar, since it has no
            neighbouring windows to agree with) rather than as a whole recording.
    """
    from signals.audio import AudioError
    from signals.heart_rate import estimate_heart_rate, estimate_window

    duration = len(signal) / rate
    # The score does not need a heart rate: a recording too short or too poor for one
    # still gets its score here. It is shown on the device but not sent (see
    # docs/model.md, "Short recordings"): a reading without a rate cannot be range-checked.
    try:
        score: float | None = default_scorer().score_recording(signal, rate)
        score_note = ""
    except (AudioError, ValueError) as exc:
        score, score_note = None, f"no score: {exc}"
    try:
        if window:
            estimate = estimate_window(signal, rate, start_s=start_s)
        else:
            estimate = estimate_heart_rate(signal, rate)
    except (AudioError, ValueError) as exc:
        return Analysis(source, start_s, duration, None, False, str(exc), score)
    if score is None:
        return Analysis(source, start_s, duration, estimate.bpm, False, score_note, None)
    usable = bool(estimate.usable) and estimate.bpm is not None
    return Analysis(
        source, start_s, duration, estimate.bpm, usable, str(estimate.reason or ""), score
    )


def analyse_file(path: str | os.PathLike[str]) -> Analysis:
    """The whole recording as one reading.

    Raises:
        InputError: the file cannot be used at all (see :func:`load`).
    """
    signal, rate = load(path)
    return analyse_signal(signal, rate, os.fspath(path))


def windows(signal: Signal, rate: int, window_s: float, hop_s: float) -> list[tuple[float, Signal]]:
    """Full windows of ``window_s`` every ``hop_s`` seconds, as a wearable would cut them.

    A recording shorter than one window is one window; a trailing part shorter than a
    window is dropped (a wearable would finish it with the next samples).
    """
    if window_s <= 0 or hop_s <= 0:
        raise InputError("--window and --hop must be positive")
    size, step = round(window_s * rate), round(hop_s * rate)
    if len(signal) <= size:
        return [(0.0, signal)]
    return [
        (start / rate, signal[start : start + size])
        for start in range(0, len(signal) - size + 1, step)
    ]


def analyse_windows(
    path: str | os.PathLike[str], window_s: float = 10.0, hop_s: float | None = None
) -> list[Analysis]:
    """One analysis per window of the recording.

    Raises:
        InputError: the file cannot be used at all.
    """
    signal, rate = load(path)
    source = os.fspath(path)
    return [
        analyse_signal(part, rate, f"{source}@{start:.0f}s", start, window=True)
        for start, part in windows(signal, rate, window_s, hop_s or window_s)
    ]
