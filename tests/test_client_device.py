"""Device-side pieces that need no server: windowing, choosing what to send, the config file."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from client import device_config
from client.device_config import DeviceConfig
from client.errors import ConfigError, InputError
from client.system_key import SystemPublicKey
from device.analysis import Analysis, windows, with_stream_hint
from device.cli import reading_from


def _analysis(bpm, score, usable=True, reason=""):
    return Analysis("rec.wav", 0.0, 10.0, bpm, usable, reason, score)


def test_windows_are_full_and_hop_apart():
    rate = 100
    signal = np.arange(35 * rate, dtype=np.float32)
    cut = windows(signal, rate, 10, 10)
    assert [start for start, _ in cut] == [0.0, 10.0, 20.0]
    assert all(len(w) == 10 * rate for _, w in cut)
    assert cut[1][1][0] == 10 * rate
    overlapping = windows(signal, rate, 10, 5)
    assert [start for start, _ in overlapping] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]


def test_a_recording_shorter_than_a_window_is_one_window():
    signal = np.zeros(700, dtype=np.float32)
    assert [(s, len(w)) for s, w in windows(signal, 100, 10, 10)] == [(0.0, 700)]


def test_bad_window_sizes_are_refused():
    with pytest.raises(InputError):
        windows(np.zeros(10, dtype=np.float32), 100, 0, 10)


def test_the_reading_is_the_analysis_encoded():
    reading = reading_from(_analysis(72.44, 0.25), None, None)
    assert (reading.heart_rate, reading.score) == (724, 2500)


def test_an_unusable_recording_is_not_sent_unless_overridden():
    unusable = _analysis(None, 0.3, usable=False, reason="too noisy")
    with pytest.raises(InputError, match="too noisy"):
        reading_from(unusable, None, None)
    assert reading_from(unusable, 80.0, None).heart_rate == 800


def test_overrides_are_bound_checked():
    with pytest.raises(InputError, match="heart rate"):
        reading_from(_analysis(70.0, 0.2), 4000.0, None)
    with pytest.raises(InputError, match="score"):
        reading_from(_analysis(70.0, 0.2), None, 1.2)


def test_device_file_round_trip_0600_and_token_not_in_repr(tmp_path, system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    config = DeviceConfig("http://127.0.0.1:1", "pid", "tok-secret", system)
    path = tmp_path / "device.json"
    device_config.save(config, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert device_config.load(path) == config
    assert "tok-secret" not in repr(config)


def test_a_device_file_with_a_tampered_key_is_refused(tmp_path, system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    path = tmp_path / "device.json"
    device_config.save(DeviceConfig("http://x", "pid", "tok", system), path)
    data = json.loads(path.read_text())
    data["system_key"]["n"] = hex(int(data["system_key"]["n"], 16) + 2)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        device_config.load(path)


def test_a_long_recording_that_cannot_be_judged_whole_is_told_to_stream() -> None:
    long_bad = Analysis("long.wav", 0.0, 600.0, None, False, "heart rate varies too much", 0.2)
    hinted = with_stream_hint(long_bad)
    assert hinted.reason.startswith("heart rate varies too much; this recording is 10.0 minutes")
    assert "hrmon device stream FILE" in hinted.reason
    short_bad = Analysis("short.wav", 0.0, 30.0, None, False, "too noisy", 0.2)
    assert with_stream_hint(short_bad) == short_bad  # a short one: nothing to add
    long_good = Analysis("long.wav", 0.0, 600.0, 70.0, True, "", 0.2)
    assert with_stream_hint(long_good) == long_good  # judged fine: no hint
