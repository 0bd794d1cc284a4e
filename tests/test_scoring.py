"""Device inference: onnxruntime only, shipped model, the AudioError contract of signals.audio."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from device import SAMPLES_DIR
from signals.audio import AudioError, load_audio
from signals.features import recording_windows, window_starts
from signals.scoring import AbnormalityScorer

REPO_ROOT = Path(__file__).resolve().parent.parent
PHYSIONET = REPO_ROOT.parent / "shared" / "data" / "physionet2016"
RATE = 2000


def _real_recording() -> Path:
    samples = sorted(SAMPLES_DIR.glob("*.wav"))
    if samples:
        return samples[0]
    flac = PHYSIONET / "training-a" / "a0001.flac"
    if flac.is_file():
        return flac
    pytest.skip("no real recording: neither device/samples/*.wav nor ../shared/data present")


@pytest.fixture(scope="module")
def scorer() -> AbnormalityScorer:
    return AbnormalityScorer.from_default()


def test_shipped_model_loads_with_validation_threshold(scorer: AbnormalityScorer) -> None:
    assert scorer.model_name.endswith(".onnx")
    assert 0.0 < scorer.threshold < 1.0


def test_scores_real_recording(scorer: AbnormalityScorer) -> None:
    signal = load_audio(_real_recording())
    probs = scorer.score_windows(signal, RATE)
    assert probs.shape == (len(window_starts(len(signal))),)
    assert np.all((probs >= 0.0) & (probs <= 1.0))
    score = scorer.score_recording(signal, RATE)
    cnn = float(probs.mean())
    if scorer.cycle_model is None:
        assert score == pytest.approx(cnn, abs=1e-6)
    else:  # the shipped score: the CNN's mean fused with the cycle model
        from signals.cycle_features import recording_features
        from signals.cycle_model import fuse

        cycle = scorer.cycle_model.probability(recording_features(signal))
        assert score == pytest.approx(fuse(cnn, cycle), abs=1e-6)
    assert isinstance(scorer.is_abnormal(score), bool)


@pytest.mark.parametrize("rate", [RATE, 4000])
def test_states_segmented_once_for_rhythm_give_the_same_score(
    scorer: AbnormalityScorer, rate: int
) -> None:
    """The device hands the rhythm's segmentation to the score (one HSMM pass, not two):
    the score must be the one the cycle model gets segmenting the signal itself."""
    from signals.audio import resample
    from signals.heart_sound_rhythm import heart_sound_states

    signal = resample(load_audio(_real_recording()), RATE, rate)
    states = heart_sound_states(signal, rate)
    assert states is not None
    assert scorer.score_recording(signal, rate, states) == scorer.score_recording(signal, rate)


def test_window_scores_match_direct_onnx_run(scorer: AbnormalityScorer) -> None:
    import onnxruntime as ort

    signal = load_audio(_real_recording())
    model = REPO_ROOT / "model" / scorer.model_name
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    direct = sess.run(None, {"features": recording_windows(signal, scorer.params)})[0]
    np.testing.assert_allclose(scorer.score_windows(signal, RATE), direct, atol=1e-6)


def test_other_rate_is_resampled(scorer: AbnormalityScorer) -> None:
    from signals.audio import resample

    signal = load_audio(_real_recording())
    up = resample(signal, RATE, 4000)
    a, b = scorer.score_recording(signal, RATE), scorer.score_recording(up, 4000)
    assert abs(a - b) < 0.1  # same recording, resampled there and back


@pytest.mark.parametrize(
    ("signal", "rate", "match"),
    [
        (np.zeros(10 * RATE, dtype=np.float32), RATE, "silent"),
        (np.full(10 * RATE, np.nan, dtype=np.float32), RATE, "non-finite"),
        (
            # 2 s is scored (public sets hold 2 s clips); below that is too short
            np.random.default_rng(0).standard_normal(int(1.9 * RATE)).astype(np.float32) * 0.1,
            RATE,
            "short",
        ),
        (np.random.default_rng(0).standard_normal(10 * 500).astype(np.float32) * 0.1, 500, "rate"),
        (np.array([], dtype=np.float32), RATE, "empty"),
    ],
)
def test_bad_audio_raises_audio_error(
    scorer: AbnormalityScorer, signal: np.ndarray, rate: int, match: str
) -> None:
    with pytest.raises(AudioError, match=match):
        scorer.score_recording(signal, rate)


def test_clipped_audio_raises_audio_error(scorer: AbnormalityScorer) -> None:
    x = np.clip(np.sin(np.linspace(0, 400, 10 * RATE)) * 5, -1, 1).astype(np.float32)
    with pytest.raises(AudioError, match="clipped"):
        scorer.score_windows(x, RATE)


def test_missing_model_file() -> None:
    with pytest.raises(FileNotFoundError):
        AbnormalityScorer.from_path(REPO_ROOT / "model" / "no-such-model.onnx")


def test_scoring_path_never_imports_torch() -> None:
    path = _real_recording()
    code = textwrap.dedent(
        f"""
        import sys
        from signals.audio import load_audio
        from signals.scoring import AbnormalityScorer
        s = AbnormalityScorer.from_default()
        score = s.score_recording(load_audio({str(path)!r}), 2000)
        assert 0.0 <= score <= 1.0
        bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print("TORCH_MODULES", bad)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "TORCH_MODULES []" in out.stdout, out.stdout + out.stderr
