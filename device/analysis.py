"""Device-side analysis: a recording (or one window of it) -> heart rate, CNN score, rhythm.

Glue only: audio loading (:mod:`signals.audio`), heart rate from heart sounds
(:mod:`signals.heart_rate`), the ONNX model (:mod:`signals.scoring`), beat intervals and
the irregularity index (:mod:`signals.rhythm`, :mod:`signals.cardiac_input` for ECG and
PPG). Nothing here leaves the device; the device encrypts the numbers afterwards.

A heart-sound recording of 2-4 s is long enough for a score but too short for a heart
rate: it is sent as a *score-only* reading (the rate-missing flag set; docs/design.md,
"Readings without a heart rate"), judged on its score alone. So is a longer one whose
rate cannot be read but which the signal-quality gate (:mod:`signals.quality_gate`)
judges a clean heart recording: the gate tells heart sounds from noise, whose score
(above the threshold) would be a false alarm. A recording the gate holds back is never
sent, rate or not; without a shipped gate, neither is one too poor for a rate.

An ECG or PPG recording has no heart sounds, so it gets no abnormality score: it is
judged on its rate and rhythm only, and the device sends the score as 0 ("no score",
never at or above a threshold, which the physician's tools keep above 0).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt

from client.errors import ConfigError, InputError

if TYPE_CHECKING:
    from signals.cardiac_input import CardiacRecording, SignalKind
    from signals.quality_gate import QualityGate
    from signals.scoring import AbnormalityScorer

Signal = npt.NDArray[np.float32]
Quality = Literal["clean", "poor", "unchecked"]
ArrayT = TypeVar("ArrayT", bound=np.generic)


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
        score: CNN probability of "abnormal" in [0, 1], None when it could not be computed
            (or, for ECG and PPG, does not apply).
        irregularity: rhythm irregularity index in [0, 1], None when the rhythm could not
            be judged (too few clean beats); such a reading is sent as 0, "not judged".
        rhythm_note: why the rhythm was not judged, or "".
        kind: what the recording holds: "heart_sound", "ecg" or "ppg".
        quality: the signal-quality gate's verdict on heart sounds
            (:mod:`signals.quality_gate`): "clean", "poor" (held back, rate or not: shown
            on the device, never sent) or "unchecked" (no gate, or no score).
    """

    source: str
    start_s: float
    duration_s: float
    bpm: float | None
    usable: bool
    reason: str
    score: float | None
    irregularity: float | None = None
    rhythm_note: str = ""
    kind: str = "heart_sound"
    quality: Quality = "unchecked"

    @property
    def too_poor(self) -> bool:
        """Held back by the signal-quality gate."""
        return self.quality == "poor"

    @property
    def score_only(self) -> bool:
        """Sent without a heart rate: heart sounds with a score, too short for a rate
        (under :data:`~signals.heart_rate.MIN_SECONDS`) or too poor for one while the
        quality gate judges them clean heart sounds."""
        from signals.heart_rate import MIN_SECONDS

        return (
            self.kind == "heart_sound"
            and self.bpm is None
            and self.score is not None
            and (
                self.quality == "clean"
                or (self.quality == "unchecked" and self.duration_s < MIN_SECONDS)
            )
        )

    @property
    def why_score_only(self) -> str:
        """Why a score-only reading has no heart rate, in the patient's words ("" if it
        is not one)."""
        from signals.heart_rate import MIN_SECONDS

        if not self.score_only:
            return ""
        if self.duration_s < MIN_SECONDS:
            return f"this recording is too short for a heart rate (at least {MIN_SECONDS:.0f} s)"
        return "no heart rate could be read in this recording, though it holds clean heart sounds"

    @property
    def sendable(self) -> bool:
        """Whether a reading goes out: usable, with a rate, and a score where one applies;
        or :attr:`score_only`."""
        has_score = self.score is not None or self.kind != "heart_sound"
        return (self.usable and self.bpm is not None and has_score) or self.score_only


@functools.cache
def default_scorer() -> AbnormalityScorer:
    """The shipped model, loaded once per process."""
    from signals.scoring import AbnormalityScorer

    try:
        return AbnormalityScorer.from_default()
    except FileNotFoundError as exc:
        raise ConfigError(f"the abnormality model is not installed: {exc}") from None


@functools.cache
def default_gate() -> QualityGate | None:
    """The shipped signal-quality gate, loaded once per process (None: none shipped)."""
    from signals.quality_gate import QualityGate

    return QualityGate.from_default()


POOR_QUALITY = (
    "poor signal quality: this does not sound like a clean heart recording (rubbing, "
    "talking or a moving stethoscope?); hold it still on the skin and record again"
)


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


SEND_HEART_SOUND_RHYTHM = False
"""Heart sounds' S1-S1 index is computed and shown, but sent as "not judged": on the
PhysioNet 2016 recordings, mostly sinus rhythm, 17 % read irregular at the default
threshold because of missed or extra S1 (docs/rhythm.md), an alarm rate no physician
could use. ECG and PPG beats are sent."""


def _heart_sound_rhythm(
    signal: Signal, rate: int
) -> tuple[npt.NDArray[np.int64] | None, float | None, str]:
    """The recording's segmenter states (None if it has none), what the device sends for
    its rhythm (None: not judged), and why."""
    from signals.heart_sound_rhythm import heart_sound_states, rhythm_of_states

    try:
        states = heart_sound_states(signal, rate)
    except ValueError as exc:
        return None, None, str(exc)
    rhythm = rhythm_of_states(states)
    if rhythm.index is None:
        return states, None, rhythm.reason
    if not SEND_HEART_SOUND_RHYTHM:
        return (
            states,
            None,
            (
                f"heart sounds: S1-S1 index {rhythm.index:.3f}, shown only; heart sounds are "
                "too unreliable for a rhythm alarm, record ECG or PPG for that"
            ),
        )
    return states, rhythm.index, ""


def analyse_signal(
    signal: Signal, rate: int, source: str, start_s: float = 0.0, *, window: bool = False
) -> Analysis:
    """Heart rate, score and rhythm of one in-memory heart-sound signal; never raises for
    a bad signal.

    Args:
        signal: mono samples at ``rate``.
        rate: sample rate, Hz.
        source: name for messages.
        start_s: offset of this signal in its recording.
        window: judge it as one streaming window (stricter quality bar, since it has no
            neighbouring windows to agree with) rather than as a whole recording.
    """
    from signals.audio import WORKING_RATE, AudioError
    from signals.cycle_features import recording_features
    from signals.heart_rate import estimate_heart_rate, estimate_window
    from signals.scoring import working_signal

    duration = len(signal) / rate
    # segmented once, for the rhythm and the score's cycle model
    states, irregularity, rhythm_note = _heart_sound_rhythm(signal, rate)
    # The score does not need a heart rate: a recording too short or too poor for one
    # still gets its score here, and is sent score-only unless the quality gate holds it
    # back (Analysis.score_only); a held-back one's score is shown on the device only.
    quality: Quality = "unchecked"
    try:
        working = working_signal(signal, rate)
        features = recording_features(working, states)  # for the score and the gate
        score: float | None = default_scorer().score_recording(
            working, WORKING_RATE, states, features
        )
        gate = default_gate()
        if gate is not None:
            quality = "poor" if gate.too_poor(features) else "clean"
        score_note = ""
    except (AudioError, ValueError) as exc:
        score, score_note = None, f"no score: {exc}"
    if quality == "poor":  # whatever period a rate estimator finds in it, it is not a heart's
        return Analysis(
            source, start_s, duration, None, False, POOR_QUALITY, score, irregularity,
            rhythm_note, quality=quality,
        )  # fmt: skip
    try:
        if window:
            estimate = estimate_window(signal, rate, start_s=start_s)
        else:
            estimate = estimate_heart_rate(signal, rate)
    except (AudioError, ValueError) as exc:
        return Analysis(
            source, start_s, duration, None, False, str(exc), score, irregularity, rhythm_note,
            quality=quality,
        )  # fmt: skip
    if score is None:
        return Analysis(
            source, start_s, duration, estimate.bpm, False, score_note, None, irregularity,
            rhythm_note,
        )  # fmt: skip
    usable = bool(estimate.usable) and estimate.bpm is not None
    return Analysis(
        source, start_s, duration, estimate.bpm, usable, str(estimate.reason or ""), score,
        irregularity, rhythm_note, quality=quality,
    )  # fmt: skip


def analyse_beats(recording: CardiacRecording, source: str, start_s: float = 0.0) -> Analysis:
    """Rate and rhythm of an ECG or PPG signal from its beats; never raises for a bad one."""
    from signals.cardiac_input import analyse_rhythm

    duration = len(recording.signal) / recording.rate
    try:
        rhythm = analyse_rhythm(recording)
    except ValueError as exc:
        return Analysis(source, start_s, duration, None, False, str(exc), None, kind=recording.kind)
    # an unjudged rhythm here means the beats themselves failed the quality gate, so the
    # rate from them is no better: nothing is sent
    usable = rhythm.index is not None and rhythm.bpm is not None
    return Analysis(
        source, start_s, duration, rhythm.bpm, usable, rhythm.reason, None, rhythm.index,
        rhythm.reason, kind=recording.kind,
    )  # fmt: skip


def load_recording(
    path: str | os.PathLike[str], kind: str | None = None, rate: float | None = None
) -> CardiacRecording:
    """Any recording the device reads: heart sounds (.wav, .flac), ECG or PPG (WFDB, EDF,
    CSV with ``rate``), its kind detected from the file or given.

    Raises:
        InputError: unreadable, unknown kind, or unusable (named).
    """
    from signals.cardiac_input import CardiacRecording, SignalFileError, detect_kind, load_cardiac

    try:
        found = kind or detect_kind(Path(path))
        if found == "heart_sound":
            signal, working_rate = load(path)
            as_float = signal.astype(np.float64)
            return CardiacRecording("heart_sound", as_float, working_rate, os.fspath(path))
        return load_cardiac(Path(path), cast("SignalKind | None", found), rate)
    except SignalFileError as exc:
        raise InputError(f"bad recording: {exc}") from None


def _analyse(recording: CardiacRecording, source: str, start_s: float, window: bool) -> Analysis:
    if recording.kind == "heart_sound":
        signal = recording.signal.astype(np.float32)
        return analyse_signal(signal, int(recording.rate), source, start_s, window=window)
    return analyse_beats(recording, source, start_s)


def analyse_file(
    path: str | os.PathLike[str], kind: str | None = None, rate: float | None = None
) -> Analysis:
    """The whole recording as one reading.

    Raises:
        InputError: the file cannot be used at all (see :func:`load_recording`).
    """
    return with_stream_hint(
        _analyse(load_recording(path, kind, rate), os.fspath(path), 0.0, window=False)
    )


LONG_RECORDING_S = 120.0


def with_stream_hint(result: Analysis) -> Analysis:
    """A long recording that could not be judged whole gets told to stream it: over
    minutes the rate drifts and the noise varies, which windows handle and one estimate
    over the whole file does not."""
    if result.sendable or result.duration_s <= LONG_RECORDING_S:
        return result
    minutes = result.duration_s / 60
    hint = (
        f"this recording is {minutes:.1f} minutes long; a long recording is judged window by "
        "window: stream it instead (hrmon device stream FILE, or Stream on the device page)"
    )
    return replace(result, reason=f"{result.reason}; {hint}" if result.reason else hint)


def windows(
    signal: npt.NDArray[ArrayT], rate: float, window_s: float, hop_s: float
) -> list[tuple[float, npt.NDArray[ArrayT]]]:
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
    path: str | os.PathLike[str],
    window_s: float = 10.0,
    hop_s: float | None = None,
    kind: str | None = None,
    rate: float | None = None,
) -> list[Analysis]:
    """One analysis per window of the recording.

    Raises:
        InputError: the file cannot be used at all.
    """
    recording = load_recording(path, kind, rate)
    source = os.fspath(path)
    return [
        _analyse(replace(recording, signal=part), f"{source}@{start:.0f}s", start, window=True)
        for start, part in windows(recording.signal, recording.rate, window_s, hop_s or window_s)
    ]
