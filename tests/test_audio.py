"""signals.audio: shipped recordings load; every kind of bad audio is rejected by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from device import SAMPLES_DIR
from signals.audio import WORKING_RATE, AudioError, load_audio, validate_signal

SAMPLE = SAMPLES_DIR / "a0211.wav"


def _tone_pcg(rate: int, seconds: float = 6.0) -> np.ndarray:
    """A heart-sound-like signal: 50 Hz bursts at 75 bpm, with a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    bursts = (np.mod(t, 0.8) < 0.08).astype(float)
    return 0.3 * bursts * np.sin(2 * np.pi * 50 * t) + 0.01 * rng.standard_normal(t.size)


def test_samples_load_as_float32_mono_at_working_rate() -> None:
    listed = json.loads((SAMPLES_DIR / "samples.json").read_text())["samples"]
    assert len(listed) >= 4
    for item in listed:
        x = load_audio(SAMPLES_DIR / item["file"])
        assert x.dtype == np.float32 and x.ndim == 1
        assert x.size == pytest.approx(item["duration_s"] * WORKING_RATE, abs=1)
        assert 0.0 < float(np.max(np.abs(x))) <= 1.0


def test_flac_and_wav_read_the_same_samples(tmp_path: Path) -> None:
    data, rate = sf.read(SAMPLE, dtype="int16")
    sf.write(tmp_path / "same.flac", data, rate, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(SAMPLE), load_audio(tmp_path / "same.flac"))


def test_stereo_uses_first_channel(tmp_path: Path) -> None:
    mono = sf.read(SAMPLE, dtype="float32")[0]
    other = np.zeros_like(mono) + 0.5 * np.sin(np.arange(mono.size))
    sf.write(tmp_path / "stereo.wav", np.stack([mono, other], axis=1), WORKING_RATE)
    np.testing.assert_allclose(load_audio(tmp_path / "stereo.wav"), mono, atol=1e-4)


@pytest.mark.parametrize("rate", [4000, 8000, 44100])
def test_resamples_to_working_rate(tmp_path: Path, rate: int) -> None:
    x = _tone_pcg(rate)
    sf.write(tmp_path / f"r{rate}.wav", x, rate, subtype="PCM_16")
    y = load_audio(tmp_path / f"r{rate}.wav")
    assert y.size == pytest.approx(6.0 * WORKING_RATE, abs=2)
    reference = _tone_pcg(WORKING_RATE)
    # The 50 Hz bursts survive resampling (correlation with the same signal made at 2 kHz).
    assert np.corrcoef(y[: reference.size], reference)[0, 1] > 0.95


def test_target_rate_is_honoured(tmp_path: Path) -> None:
    assert load_audio(SAMPLE, target_rate=4000).size == 2 * load_audio(SAMPLE).size


@pytest.mark.parametrize(
    ("writer", "needle"),
    [
        (lambda p: p.write_bytes(b"RIFF not really a wave file at all"), "unreadable"),
        (lambda p: p.write_text("hello, I am a text file\n"), "unreadable"),
        (lambda p: sf.write(p, np.zeros(0, dtype=np.int16), 2000), "empty"),
        (lambda p: sf.write(p, _tone_pcg(2000, 1.0), 2000), "too short"),
        (lambda p: sf.write(p, np.zeros(12000), 2000, subtype="PCM_16"), "silent"),
        (lambda p: sf.write(p, np.full(12000, 0.25), 2000, subtype="PCM_16"), "silent"),
        (lambda p: sf.write(p, _tone_pcg(800), 800, subtype="PCM_16"), "too low"),
        (
            lambda p: sf.write(p, np.clip(20 * _tone_pcg(2000), -1, 1), 2000, subtype="PCM_16"),
            "clipped",
        ),
    ],
    ids=["garbage", "text", "empty", "short", "silent", "dc", "low-rate", "clipped"],
)
def test_bad_files_raise_named_audio_error(tmp_path: Path, writer, needle: str) -> None:
    path = tmp_path / "bad.wav"
    writer(path)
    with pytest.raises(AudioError, match=needle) as info:
        load_audio(path)
    assert "bad.wav" in str(info.value)


def test_nan_in_float_wav(tmp_path: Path) -> None:
    x = _tone_pcg(2000).astype(np.float32)
    x[100:110] = np.nan
    sf.write(tmp_path / "nan.wav", x, 2000, subtype="FLOAT")
    with pytest.raises(AudioError, match="10 non-finite samples"):
        load_audio(tmp_path / "nan.wav")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nowhere.wav")


def test_clipping_message_gives_fraction() -> None:
    x = np.clip(20 * _tone_pcg(2000), -1, 1)
    with pytest.raises(AudioError, match=r"heavily clipped \(\d+\.\d% of samples"):
        validate_signal(x, 2000, source="clip")


def test_audio_error_is_value_error() -> None:
    assert issubclass(AudioError, ValueError)


def test_validate_signal_in_memory() -> None:
    x = _tone_pcg(2000).astype(np.float64)
    out = validate_signal(x, 2000, source="window 3")
    assert out.dtype == np.float32 and out.shape == x.shape
    with pytest.raises(AudioError, match=r"window 3: .*inf"):
        validate_signal(np.where(np.arange(x.size) == 5, np.inf, x), 2000, source="window 3")
    with pytest.raises(AudioError, match="too short"):
        validate_signal(x[:2000], 2000, min_seconds=3.0)
    assert validate_signal(x[:2000], 2000, min_seconds=0.5).size == 2000
    with pytest.raises(AudioError, match="empty"):
        validate_signal(np.zeros(0), 2000)
