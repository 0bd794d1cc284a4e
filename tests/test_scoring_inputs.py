"""Any recording a device might make gets a score: every shipped sample, 2 s clips,
8 kHz and stereo 44.1 kHz files, all made from real recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from client.errors import InputError
from device import SAMPLES_DIR, analysis
from device.analysis import analyse_file
from device.cli import reading_from
from signals.audio import WORKING_RATE, AudioError, load_audio
from signals.scoring import AbnormalityScorer

INDEX = json.loads((SAMPLES_DIR / "samples.json").read_text())
ALL_FILES = sorted(
    {s["file"] for s in INDEX["samples"]} | {s["file"] for s in INDEX["heart_rate_fixtures"]}
)
SOURCE = SAMPLES_DIR / INDEX["samples"][0]["file"]


@pytest.fixture(scope="module")
def scorer() -> AbnormalityScorer:
    return AbnormalityScorer.from_default()


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_shipped_sample_gets_a_score(name: str, scorer: AbnormalityScorer) -> None:
    score = scorer.score_recording(load_audio(SAMPLES_DIR / name), WORKING_RATE)
    assert 0.0 <= score <= 1.0


def test_a_two_second_clip_gets_a_score_but_no_heart_rate(tmp_path: Path) -> None:
    x, rate = sf.read(SOURCE, dtype="int16")
    clip = tmp_path / "two-seconds.wav"
    sf.write(clip, x[: 2 * rate], rate, subtype="PCM_16")
    result = analyse_file(clip)
    assert result.score is not None and 0.0 <= result.score <= 1.0
    assert result.bpm is None and not result.usable
    assert "too short" in result.reason
    # sent all the same, score only: the flag set, no made-up rate
    assert result.score_only and result.sendable
    reading = reading_from(result, None, None)
    assert (reading.rate_missing, reading.heart_rate) == (1, 0)
    assert reading.score == round(result.score * 10_000)


def test_a_recording_too_poor_for_a_rate_sends_nothing(tmp_path: Path, monkeypatch) -> None:
    """Noise has no heart rate and a score above the threshold (a false alarm if sent): the
    quality gate holds it back, and without a gate the missing rate does; the device says
    so either way."""

    noise = tmp_path / "noise.wav"
    samples = np.random.default_rng(0).normal(0, 0.1, 10 * 4000)
    sf.write(noise, (samples * 32767).astype(np.int16), 4000, subtype="PCM_16")
    result = analyse_file(noise)
    assert result.bpm is None and result.score is not None and result.too_poor
    assert not result.score_only and not result.sendable
    with pytest.raises(InputError, match=r"poor signal quality.*nothing was sent"):
        reading_from(result, None, None)
    monkeypatch.setattr(analysis, "default_gate", lambda: None)
    result = analyse_file(noise)
    assert result.quality == "unchecked" and not result.sendable
    with pytest.raises(InputError, match="too poor to trust it, so nothing was sent"):
        reading_from(result, None, None)


def test_below_two_seconds_is_refused_by_name(tmp_path: Path) -> None:
    x, rate = sf.read(SOURCE, dtype="int16")
    clip = tmp_path / "short.wav"
    sf.write(clip, x[: int(1.5 * rate)], rate, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"short\.wav: too short \(1\.50 s; need at least 2 s"):
        load_audio(clip)


def _resampled(rate: int) -> np.ndarray:
    x, source_rate = sf.read(SOURCE, dtype="float64")
    return (
        resample_poly(x, rate // 1000, source_rate // 1000)
        if rate % 1000 == 0
        else (resample_poly(x, rate // 100, source_rate // 100))
    )


def test_an_8_khz_recording_scores_like_the_original(
    tmp_path: Path, scorer: AbnormalityScorer
) -> None:
    path = tmp_path / "8k.wav"
    sf.write(path, _resampled(8000), 8000, subtype="PCM_16")
    original = scorer.score_recording(load_audio(SOURCE), WORKING_RATE)
    assert scorer.score_recording(load_audio(path), WORKING_RATE) == pytest.approx(
        original, abs=0.05
    )


def test_a_stereo_44k1_recording_scores_like_the_original(
    tmp_path: Path, scorer: AbnormalityScorer
) -> None:
    mono = _resampled(44100)
    stereo = np.stack([mono, 0.5 * mono[::-1]], axis=1)  # channel 0 is the stethoscope
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo * 0.9, 44100, subtype="PCM_16")
    assert sf.info(str(path)).channels == 2
    original = scorer.score_recording(load_audio(SOURCE), WORKING_RATE)
    result = analyse_file(path)
    assert result.score == pytest.approx(original, abs=0.05)
    assert result.bpm is not None or not result.usable
