"""Cycle features: one value per name, finite on real recordings, and unmoved by what a
different stethoscope does to the sound (a gain and a smooth frequency response)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from device import SAMPLES_DIR
from signals.audio import WORKING_RATE, load_audio
from signals.cycle_features import BAND_EDGES, feature_names, recording_features
from signals.cycle_model import CycleModel, fuse

RATIO_PREFIXES = ("sys_s1_", "dia_s2_", "sys_dia_", "s2_s1_")


@pytest.fixture(scope="module")
def recording() -> np.ndarray:
    return load_audio(SAMPLES_DIR / "a0386.wav")


def _band_log_energy(x: np.ndarray) -> np.ndarray:
    """What the features avoid: absolute log energy per band (moves with the channel)."""
    out = []
    for lo, hi in itertools.pairwise(BAND_EDGES):
        sos = butter(4, [lo, hi], btype="bandpass", fs=WORKING_RATE, output="sos")
        out.append(np.log(np.mean(sosfilt(sos, x) ** 2)))
    return np.asarray(out)


def test_one_finite_value_per_name_on_a_real_recording(recording: np.ndarray) -> None:
    features = recording_features(recording)
    assert features.shape == (len(feature_names()),)
    assert np.isfinite(features).all()
    hr = features[feature_names().index("hr")]
    assert 40 < hr < 140  # a resting adult


def test_ratios_cancel_a_gain_and_a_smooth_stethoscope_response(recording: np.ndarray) -> None:
    # another stethoscope: 6x the gain and a first-order high-shelf-like tilt (a low-pass
    # at 150 Hz mixed with the dry sound), smooth within each band
    sos = butter(1, 150, btype="lowpass", fs=WORKING_RATE, output="sos")
    other = 6.0 * (0.3 * recording + 0.7 * sosfilt(sos, recording))
    names = feature_names()
    ratio = [i for i, n in enumerate(names) if n.startswith(RATIO_PREFIXES)]
    before, after = recording_features(recording), recording_features(other)
    moved = np.abs(after[ratio] - before[ratio])
    channel = np.abs(_band_log_energy(other) - _band_log_energy(recording))
    # absolute band energies move by 1.4 (top band) to 3.5 (bottom); the ratios hardly
    assert channel.min() > 1.0
    assert np.median(moved) < 0.1 * np.median(channel)


def test_the_model_round_trips_and_refuses_a_short_vector() -> None:
    n = len(feature_names())
    rng = np.random.default_rng(0)
    model = CycleModel(
        tuple(feature_names()), rng.normal(size=n), rng.normal(size=n), np.ones(n),
        rng.normal(size=n), 0.3,
    )  # fmt: skip
    again = CycleModel.from_json(model.to_json())
    x = rng.normal(size=n)
    x[3] = np.nan  # imputed by the training median
    assert again.probability(x) == pytest.approx(model.probability(x))
    broken = model.to_json() | {"coef": [0.0] * (n - 1)}
    with pytest.raises(ValueError, match="one value per feature"):
        CycleModel.from_json(broken)


def test_fusion_is_the_mean_logit() -> None:
    assert fuse(0.3, 0.3) == pytest.approx(0.3)
    assert fuse(0.2, 0.8) == pytest.approx(0.5)
    assert fuse(0.9, 0.6) == pytest.approx(fuse(0.6, 0.9))
    assert 0.6 < fuse(0.9, 0.6) < 0.9
    assert 0.0 < fuse(0.0, 0.0) < 1e-5  # clipped, never exactly 0


def test_the_shipped_score_is_the_fusion_of_cnn_and_cycle_model(recording: np.ndarray) -> None:
    import json

    from signals.scoring import CONFIG_NAME, CYCLE_NAME, AbnormalityScorer
    from signals.shipped import shipped_file

    shipped = AbnormalityScorer.from_default()
    assert shipped.cycle_model is not None
    config = json.loads(shipped_file(CONFIG_NAME).read_text())
    cycle = json.loads(shipped_file(CYCLE_NAME).read_text())
    assert shipped.threshold == cycle["fused_thresholds"][shipped.model_name]
    cnn = AbnormalityScorer(shipped_file(shipped.model_name), config)
    p_cnn = cnn.score_recording(recording, WORKING_RATE)
    p_cycle = shipped.cycle_model.probability(recording_features(recording))
    assert shipped.score_recording(recording, WORKING_RATE) == pytest.approx(fuse(p_cnn, p_cycle))
    with pytest.raises(ValueError, match="no fused threshold"):
        AbnormalityScorer(shipped_file(shipped.model_name), config, cycle={"fused_thresholds": {}})


def test_an_ensemble_is_the_mean_logit_of_its_members() -> None:
    assert fuse(0.3) == pytest.approx(0.3)
    assert fuse(0.2, 0.5, 0.8) == pytest.approx(0.5)
    assert fuse(0.9, 0.9, 0.6) > fuse(0.9, 0.6)
