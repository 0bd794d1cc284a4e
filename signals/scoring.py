"""On-device abnormality score: the shipped CNN through onnxruntime (no torch), fused with
the cycle-feature model where one is shipped.

The recording is cut into 5 s windows (2.5 s apart), each window becomes a log-mel
image by :func:`signals.features.recording_windows` - the very function training used -
and the CNN gives each window a probability of "abnormal"; the CNN's recording score is
the mean over its windows. With ``model/cycle_model.json`` shipped, the recording's
stethoscope-invariant cycle features (:mod:`signals.cycle_features`) give a second
probability, and the score is their fusion (:func:`signals.cycle_model.fuse`). The
decision threshold comes from the JSON, chosen on the validation part of the
subject-wise split.

Typical use::

    scorer = AbnormalityScorer.from_default()
    score = scorer.score_recording(load_audio("rec.wav"), WORKING_RATE)
    abnormal = scorer.is_abnormal(score)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from signals.audio import WORKING_RATE, resample, validate_signal
from signals.cycle_features import recording_features
from signals.cycle_model import CycleModel, fuse
from signals.features import FeatureParams, recording_windows
from signals.shipped import shipped_file

DEFAULT_MODEL = "heart_cnn.int8.onnx"
CONFIG_NAME = "heart_cnn.json"
CYCLE_NAME = "cycle_model.json"


def working_signal(signal: npt.ArrayLike, rate: int) -> npt.NDArray[np.float32]:
    """The signal checked (``signals.audio.AudioError`` if unusable) and at 2000 Hz."""
    x = validate_signal(np.asarray(signal), rate, source="signal")
    return resample(x, rate, WORKING_RATE)


class AbnormalityScorer:
    """One onnxruntime session plus the feature parameters and threshold of the model.

    Args:
        model_path: the ``.onnx`` file.
        config: the parsed ``heart_cnn.json``.
        threads: onnxruntime intra-op threads (1 keeps the device responsive).
        cycle: the parsed ``cycle_model.json`` to fuse with, or None for the CNN alone.

    Raises:
        FileNotFoundError: if the model file is missing.
        ValueError: the cycle model is malformed or has no threshold for this CNN file.
    """

    def __init__(
        self,
        model_path: Path,
        config: dict[str, Any],
        *,
        threads: int = 1,
        cycle: dict[str, Any] | None = None,
    ) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(f"model file not found: {model_path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), opts, providers=["CPUExecutionProvider"]
        )
        self.model_name = model_path.name
        self.params = FeatureParams.from_dict(config["features"])
        self._input = str(config.get("input_name", "features"))
        self._output = str(config.get("output_name", "prob"))
        thresholds: dict[str, float] = config.get("thresholds", {})
        self.threshold = float(thresholds.get(model_path.name, config.get("threshold", 0.5)))
        self.cycle_model: CycleModel | None = None
        if cycle is not None:
            fused: dict[str, float] = cycle.get("fused_thresholds", {})
            if model_path.name not in fused:
                raise ValueError(f"cycle model has no fused threshold for {model_path.name}")
            self.cycle_model = CycleModel.from_json(cycle["model"])
            self.threshold = float(fused[model_path.name])

    @classmethod
    def from_path(cls, model_path: Path, config_path: Path | None = None) -> AbnormalityScorer:
        """Load a model file; its JSON is ``heart_cnn.json`` beside it, else the shipped one.

        Args:
            model_path: ``.onnx`` file.
            config_path: explicit JSON (feature parameters, thresholds).

        Returns:
            The scorer.

        Raises:
            FileNotFoundError: if the model or the JSON is missing.
        """
        if config_path is None:
            beside = model_path.with_name(CONFIG_NAME)
            config_path = beside if beside.is_file() else shipped_file(CONFIG_NAME)
        config = json.loads(config_path.read_text())
        return cls(model_path, config)

    @classmethod
    def from_default(cls) -> AbnormalityScorer:
        """The model shipped in the ``model`` package (int8 unless the JSON says otherwise).

        Returns:
            The scorer.

        Raises:
            FileNotFoundError: if the package lacks the model files.
        """
        config_path = shipped_file(CONFIG_NAME)
        config = json.loads(config_path.read_text())
        cycle_path = shipped_file(CYCLE_NAME)
        cycle = json.loads(cycle_path.read_text()) if cycle_path.is_file() else None
        return cls(
            shipped_file(str(config.get("default_model", DEFAULT_MODEL))), config, cycle=cycle
        )

    def score_windows(self, signal: npt.ArrayLike, rate: int) -> npt.NDArray[np.float32]:
        """Probability of "abnormal" for each 5 s window of a recording.

        Args:
            signal: mono samples (full scale 1.0), at least 2 s.
            rate: their sample rate in Hz (resampled to 2000 Hz if different).

        Returns:
            float32 array, one probability in [0, 1] per window.

        Raises:
            signals.audio.AudioError: empty, silent, clipped, non-finite, too short or a
                sample rate below 1000 Hz - the same errors as heart-rate estimation.
        """
        return self._window_probabilities(working_signal(signal, rate))

    def _window_probabilities(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        feats = recording_windows(x, self.params)
        probs = self._session.run([self._output], {self._input: feats})[0]
        return np.asarray(probs, dtype=np.float32).reshape(-1)

    def score_recording(
        self,
        signal: npt.ArrayLike,
        rate: int,
        states: npt.NDArray[np.int64] | None = None,
        features: npt.NDArray[np.float64] | None = None,
    ) -> float:
        """Recording score in [0, 1]: the mean window probability, fused with the cycle
        model's probability when there is one.

        Args:
            signal: mono samples (full scale 1.0), at least 2 s.
            rate: sample rate in Hz.
            states: the segmenter's states of the signal at 2 kHz, when the caller has
                them already (:func:`signals.heart_sound_rhythm.heart_sound_states`);
                else the cycle model segments it.
            features: the recording's ``signals.cycle_features``, when the caller has
                computed them already (the device's quality gate reads them too).

        Returns:
            Score; ``>= self.threshold`` means abnormal.

        Raises:
            signals.audio.AudioError: as :meth:`score_windows`.
        """
        x = working_signal(signal, rate)  # validated and resampled once for both models
        cnn = float(np.mean(self._window_probabilities(x)))
        if self.cycle_model is None:
            return cnn
        if features is None:
            features = recording_features(x, states)
        return fuse(cnn, self.cycle_model.probability(features))

    def is_abnormal(self, score: float) -> bool:
        """Whether a recording score is over the validation-chosen threshold."""
        return score >= self.threshold
