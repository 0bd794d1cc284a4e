"""The device's signal-quality gate (``signals.quality_gate``, ``hrmon train quality``):
a real recording without heart sounds is held back although its "heart rate" reads, a
clean heart recording too poor for a rate is sent score-only, the shipped heart recordings
pass, and the gate's file and training rule are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device import SAMPLES_DIR, analysis
from signals.audio import WORKING_RATE, load_audio
from signals.quality_gate import QualityGate

ARTIFACT = Path(__file__).parent / "audio" / "pascal_artifact_201106101314.wav"


@pytest.fixture(autouse=True)
def _fresh_gate():
    analysis.default_gate.cache_clear()
    yield
    analysis.default_gate.cache_clear()


def test_a_recording_without_heart_sounds_is_held_back(monkeypatch) -> None:
    held = analysis.analyse_file(ARTIFACT)
    assert held.too_poor and not held.sendable
    assert held.reason == analysis.POOR_QUALITY and held.score is not None  # shown, not sent
    # without the gate it would go out: its "heart rate" passes the rate check
    monkeypatch.setattr(analysis, "default_gate", lambda: None)
    assert analysis.analyse_file(ARTIFACT).sendable


def test_a_short_recording_without_heart_sounds_is_not_sent_score_only(monkeypatch) -> None:
    three_seconds = load_audio(ARTIFACT)[: 3 * WORKING_RATE]
    held = analysis.analyse_signal(three_seconds, WORKING_RATE, "artifact, 3 s")
    assert held.too_poor and not held.score_only and not held.sendable
    monkeypatch.setattr(analysis, "default_gate", lambda: None)
    assert analysis.analyse_signal(three_seconds, WORKING_RATE, "artifact, 3 s").score_only


def test_a_clean_heart_recording_too_poor_for_a_rate_is_sent_score_only(monkeypatch) -> None:
    """a0060 (a shipped sample, ECG rate 61 bpm) is too faint for the rate estimator; the
    gate vouches for its heart sounds, so its score goes out without a rate."""
    result = analysis.analyse_file(SAMPLES_DIR / "a0060.wav")
    assert result.bpm is None and result.quality == "clean"
    assert result.score_only and result.sendable
    assert "clean heart sounds" in result.why_score_only
    monkeypatch.setattr(analysis, "default_gate", lambda: None)  # no gate: not sent, as before
    assert not analysis.analyse_file(SAMPLES_DIR / "a0060.wav").sendable


def test_every_shipped_heart_recording_with_a_rate_passes_the_gate() -> None:
    for path in sorted(SAMPLES_DIR.glob("*.wav")):
        result = analysis.analyse_file(path)
        assert not result.too_poor, path.name


def test_the_shipped_gate_loads_and_its_file_is_checked() -> None:
    gate = QualityGate.from_default()
    assert gate is not None and 0.5 < gate.threshold < 1.0
    again = QualityGate.from_json(json.loads(json.dumps(gate.to_json())))
    assert again.threshold == gate.threshold
    assert np.array_equal(again.model.coef, gate.model.coef)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="not in"):
            QualityGate.from_json({**gate.to_json(), "threshold": bad})
    broken = json.loads(json.dumps(gate.to_json()))
    broken["model"]["coef"] = broken["model"]["coef"][:-1]
    with pytest.raises(ValueError, match="one value per feature"):
        QualityGate.from_json(broken)


def test_the_training_rule_keeps_the_share_of_good_readable_recordings(shared_data) -> None:
    from model.data import index_records, quality_labels, read_training_audio
    from model.quality_train import KEEP_GOOD, fit_gate
    from signals.cycle_features import recording_features

    labels = quality_labels(shared_data)
    assert sum(labels.values()) == 241 and len(labels) == 2704  # PhysioNet's poor ones
    records = [r for r in index_records(shared_data, {}) if r.name in labels]
    rng = np.random.default_rng(0)
    chosen = [records[i] for i in rng.choice(len(records), 40, replace=False)]
    chosen += [r for r in records if labels[r.name] == 1][:10]
    features = np.vstack([recording_features(read_training_audio(r.path)) for r in chosen])
    poor = np.array([labels[r.name] for r in chosen])
    readable = np.ones(len(chosen), dtype=bool)
    gate = fit_gate(features, poor, [r.set_name for r in chosen], readable)
    good = [gate.probability_poor(x) for x, p in zip(features, poor, strict=True) if p == 0]
    assert np.mean(np.array(good) < gate.threshold) >= KEEP_GOOD - 1 / len(good)
