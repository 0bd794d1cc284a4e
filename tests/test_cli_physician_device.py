"""End to end through the ``hrmon`` CLIs against real server processes on loopback.

Each refusal must be a clear message with its own exit code, never a traceback, and must
happen before anything is encrypted or sent where the design says so.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from client import device_config
from client.errors import ConfigError, InputError, KeyMismatch, ServerUnavailable
from device.outbox import outbox_path
from ops import setup as setup_keys
from ops.demo import SAMPLES_DIR, load_samples
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow
PASSWORD = "correct-horse-battery-staple"


def hrmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Keys, both servers as real processes, an enrolled physician, one patient."""
    from ops.launcher import launch_servers

    base = tmp_path_factory.mktemp("cli")
    keys = base / "keys"
    setup_keys.run_setup(keys, 1024, insecure=True)
    env = {
        **os.environ,
        "HRMON_PASSWORD": PASSWORD,
        "HRMON_PHYSICIAN_HOME": str(base / "physician"),
    }
    with launch_servers(
        keys,
        database_url=f"sqlite:///{base / 'a.db'}",
        log_dir=base / "logs",
        insecure_test_keys=True,
    ) as servers:
        url = servers.a_url
        steps = [
            ("physician", "keygen", "--bits", "1024", "--insecure-test-keys"),
            (
                "physician", "enrol", "--server", url, "--username", "dr.test",
                "--system-key", str(keys / "system_public.json"),
                "--enrolment-token-file", str(keys / "enrolment_token"),
            ),
            ("physician", "add-patient", "alice", "--device-config", str(base / "alice.json")),
            ("physician", "set-range", "alice", "--low", "50", "--high", "110",
             "--threshold", "0.5"),
        ]  # fmt: skip
        for step in steps:
            proc = hrmon(*step, env=env)
            assert proc.returncode == 0, (step, proc.stderr)
        yield {"base": base, "keys": keys, "env": env, "url": url, "servers": servers}


def _results(world) -> list[dict]:
    proc = hrmon("physician", "results", "alice", "--json", env=world["env"])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _usable_sample() -> Path:
    """The first shipped recording with a usable heart rate (some honestly have none)."""
    from device.analysis import analyse_file

    for entry in load_samples():
        if analyse_file(SAMPLES_DIR / entry.file).usable:
            return SAMPLES_DIR / entry.file
    raise AssertionError("no shipped recording is usable")


def test_submit_and_decrypt_through_the_clis(world):
    before = len(_results(world))
    env, dev = world["env"], str(world["base"] / "alice.json")
    assert (
        hrmon("device", "submit", str(_usable_sample()), "--config", dev, env=env).returncode == 0
    )
    # explicit overrides: one reading inside everything, one too fast, one CNN-abnormal
    for hr, score in (("72", "0.1"), ("140", "0.1"), ("72", "0.9")):
        proc = hrmon(
            "device", "submit", str(_usable_sample()), "--config", dev,
            "--heart-rate", hr, "--score", score, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    proc = hrmon("physician", "results", "alice", "--json", "--wait-for", str(before + 4), env=env)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == before + 4 and all(r["status"] == "done" for r in rows)
    newest_three = [r["abnormal"] for r in rows[:3]]  # newest first
    assert sorted(newest_three) == [False, True, True]
    tally = json.loads(hrmon("physician", "tally", "alice", "--json", env=env).stdout)
    assert tally["count"] == len(rows)
    assert tally["abnormal"] == sum(r["abnormal"] for r in rows)

    # The patient's own history on the device: the values it measured, newest first,
    # in a 0600 file beside the device file; the same ids A stored.
    own = json.loads(hrmon("device", "history", "--config", dev, "--json", env=env).stdout)
    assert [(r["heart_rate_bpm"], r["score"]) for r in own[:3]] == [
        (72.0, 0.9), (140.0, 0.1), (72.0, 0.1)
    ]  # fmt: skip
    assert {r["reading_id"] for r in own[:4]} <= {r["reading_id"] for r in rows}
    history_file = world["base"] / "alice.json.history.sqlite3"
    assert stat.S_IMODE(history_file.stat().st_mode) == 0o600
    listing = hrmon("device", "history", "--config", dev, "--limit", "2", env=env).stdout
    assert listing.count(" bpm ") == 2 and "140.0 bpm" in listing


def test_a_two_second_clip_is_sent_score_only_and_decided_on_its_score(world, tmp_path):
    """Too short for a heart rate: sent with the rate-missing flag, never a made-up rate;
    the physician's bit is the score's, and the patient's history says "not measured"."""
    import soundfile as sf

    from client.encrypt import encode_range, encode_reading, expected_result
    from device.analysis import analyse_file
    from signals.rhythm import DEFAULT_IRREGULARITY_THRESHOLD

    before = len(_results(world))
    env, dev = world["env"], str(world["base"] / "alice.json")
    samples, rate = sf.read(_usable_sample(), dtype="int16")
    clip = tmp_path / "two-seconds.wav"
    sf.write(clip, samples[: 2 * rate], rate, subtype="PCM_16")
    proc = hrmon("device", "submit", str(clip), "--config", dev, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = hrmon("physician", "results", "alice", "--json", "--wait-for", str(before + 1), env=env)
    newest = json.loads(proc.stdout)[0]
    result = analyse_file(clip)
    assert result.score is not None and result.score_only
    reading = encode_reading(None, result.score, result.irregularity)
    bounds = encode_range(50, 110, 0.5, DEFAULT_IRREGULARITY_THRESHOLD)
    assert newest["abnormal"] is expected_result(reading, bounds)
    own = json.loads(hrmon("device", "history", "--config", dev, "--json", env=env).stdout)
    assert own[0]["reading_id"] == newest["reading_id"] and own[0]["heart_rate_bpm"] is None
    listing = hrmon("device", "history", "--config", dev, "--limit", "1", env=env).stdout
    assert "   -   bpm" in listing


def test_bad_audio_is_a_clear_error_and_nothing_is_sent(world, tmp_path):
    before = len(_results(world))
    dev = str(world["base"] / "alice.json")
    not_audio = tmp_path / "not-audio.wav"
    not_audio.write_text("this is not a recording")
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(2000)
        w.writeframes(np.zeros(2000 * 12, dtype=np.int16).tobytes())
    for path, words in (
        (not_audio, "not audio"),
        (silent, "silent"),
        (tmp_path / "nope.wav", "no such file"),
    ):
        proc = hrmon("device", "submit", str(path), "--config", dev, env=world["env"])
        assert proc.returncode == InputError.exit_code, proc.stderr
        assert "bad recording" in proc.stderr and words in proc.stderr.lower()
    assert len(_results(world)) == before


def test_values_outside_their_bound_are_refused_before_encryption(world, tmp_path):
    env = {**world["env"]}
    dev = str(world["base"] / "alice.json")
    proc = hrmon(
        "device", "submit", str(_usable_sample()), "--config", dev,
        "--heart-rate", "4000", "--score", "0.2", env=env,
    )  # fmt: skip
    assert proc.returncode == InputError.exit_code
    assert "refused before encryption" in proc.stderr and "heart rate" in proc.stderr
    proc = hrmon(
        "device", "submit", str(_usable_sample()), "--config", dev,
        "--heart-rate", "70", "--score", "1.5", env=env,
    )  # fmt: skip
    assert proc.returncode == InputError.exit_code and "score" in proc.stderr
    # The physician's range is refused before any network: even with A unreachable.
    home = tmp_path / "physician"
    home.mkdir()
    (home / "profile.json").write_text(
        json.dumps(
            {
                "server": f"http://127.0.0.1:{_closed_port()}",
                "username": "x",
                "system_key_id": "0" * 16,
            }
        )
    )
    proc = hrmon(
        "physician", "set-range", "alice", "--low", "50", "--high", "5000", "--threshold", "0.5",
        "--home", str(home), env=env,
    )  # fmt: skip
    assert proc.returncode == InputError.exit_code
    assert "refused before encryption" in proc.stderr and "high" in proc.stderr


def test_a_wrong_pinned_system_key_is_refused(world, tmp_path):
    other = setup_keys.run_setup(tmp_path / "other-keys", 1024, insecure=True).system_key
    config = device_config.load(world["base"] / "alice.json")
    wrong = tmp_path / "wrong.json"
    device_config.save(
        device_config.DeviceConfig(config.server, config.patient_id, config.device_token, other),
        wrong,
    )
    before = len(_results(world))
    proc = hrmon(
        "device", "submit", str(_usable_sample()), "--config", str(wrong),
        "--heart-rate", "70", "--score", "0.2", env=world["env"],
    )  # fmt: skip
    assert proc.returncode == KeyMismatch.exit_code
    assert "not the pinned key" in proc.stderr
    assert len(_results(world)) == before
    # A physician enrolling against a system key file from another setup is refused too.
    env = {**world["env"], "HRMON_PHYSICIAN_HOME": str(tmp_path / "dr2")}
    assert (
        hrmon("physician", "keygen", "--bits", "1024", "--insecure-test-keys", env=env).returncode
        == 0
    )
    proc = hrmon(
        "physician", "enrol", "--server", world["url"], "--username", "dr.other",
        "--system-key", str(tmp_path / "other-keys" / "system_public.json"),
        "--enrolment-token-file", str(world["keys"] / "enrolment_token"), env=env,
    )  # fmt: skip
    assert proc.returncode == KeyMismatch.exit_code and "pinned" in proc.stderr


def test_a_reading_made_while_a_is_down_is_kept_and_sent_later_once(world, tmp_path):
    """The device's outbox: A away -> the reading is kept on the device (0600), said so,
    and sent, once and in order, with the next reading or by ``hrmon device flush``."""
    config = device_config.load(world["base"] / "alice.json")
    away = tmp_path / "alice-away.json"

    def write(server: str) -> None:
        device_config.save(
            device_config.DeviceConfig(
                server, config.patient_id, config.device_token, config.system_key
            ),
            away,
            overwrite=True,
        )

    write(f"http://127.0.0.1:{_closed_port()}")
    before = len(_results(world))
    env, sample = world["env"], str(_usable_sample())
    ids = []
    for hr in ("70", "71"):
        proc = hrmon(
            "device", "submit", sample, "--config", str(away), "--json",
            "--heart-rate", hr, "--score", "0.2", env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        submitted = json.loads(proc.stdout)["submitted"]
        assert submitted["status"] == "queued"
        ids.append(submitted["reading_id"])
    box = outbox_path(away)
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    flush_down = hrmon("device", "flush", "--config", str(away), env=env)
    assert flush_down.returncode == ServerUnavailable.exit_code
    assert "unreachable" in flush_down.stderr and "2 reading(s) waiting" in flush_down.stderr
    write(world["url"])  # A is reachable again
    proc = hrmon("device", "flush", "--config", str(away), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"sent": ids, "waiting": 0}  # oldest first
    again = hrmon("device", "flush", "--config", str(away), "--json", env=env)
    assert json.loads(again.stdout) == {"sent": [], "waiting": 0}
    rows = _results(world)
    assert len(rows) == before + 2  # once each
    assert {r["reading_id"] for r in rows} >= set(ids)


def test_a_missing_device_file_or_physician_profile_says_what_to_run(world, tmp_path):
    proc = hrmon(
        "device", "submit", str(_usable_sample()), "--config", str(tmp_path / "none.json"),
        env=world["env"],
    )  # fmt: skip
    assert proc.returncode == ConfigError.exit_code and "add-patient" in proc.stderr
    env = {**world["env"], "HRMON_PHYSICIAN_HOME": str(tmp_path / "nobody")}
    proc = hrmon("physician", "results", "alice", env=env)
    assert proc.returncode == ConfigError.exit_code and "keygen" in proc.stderr


def test_a_wrong_password_is_an_auth_error(world):
    env = {**world["env"], "HRMON_PASSWORD": "not-the-password-at-all"}
    proc = hrmon("physician", "results", "alice", env=env)
    assert proc.returncode == 7 and "not authenticated" in proc.stderr


def test_the_event_stream_delivers_a_decided_reading(world):
    import threading
    from datetime import UTC, datetime

    from client.encrypt import encode_reading
    from device.cli import submit
    from device.sending import connect
    from physician import cli as physician_cli

    api, _ = physician_cli.login(Path(world["env"]["HRMON_PHYSICIAN_HOME"]), PASSWORD)
    got = []
    ready = threading.Event()

    def listen() -> None:
        with api:
            ready.set()
            for event in api.events(timeout_s=60):
                got.append(event)
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    config = device_config.load(world["base"] / "alice.json")
    with connect(config) as device:
        sent = submit(device, config, encode_reading(65.0, 0.2), datetime.now(UTC))
    listener.join(60)
    assert [(str(e.reading_id), e.status) for e in got] == [(sent.reading_id, "done")]
    assert got[0].result is not None


def test_stream_sends_one_reading_per_usable_window_and_reports_the_rest(world):
    before = len(_results(world))
    dev = str(world["base"] / "alice.json")
    proc = hrmon(
        "device", "stream", str(_usable_sample()), "--window", "5", "--config", dev, "--json",
        env=world["env"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["analysis"]["start_s"] for r in records] == [0.0, 5.0, 10.0]
    sent = [r for r in records if r["submitted"]]
    assert all(r["analysis"]["usable"] for r in sent)
    assert all(not r["analysis"]["usable"] for r in records if not r["submitted"])
    assert sent, "a clean sample has at least one usable 5 s window"
    assert len(_results(world)) == before + len(sent)
    # a streamed recording was made before it is sent: no window is dated in the future
    now = datetime.now(UTC)
    assert all(datetime.fromisoformat(r["submitted"]["taken_at"]) <= now for r in sent)


def test_a_lost_device_is_replaced_from_the_cli(world, tmp_path):
    env, sample = world["env"], str(_usable_sample())
    old, new = tmp_path / "bob.json", tmp_path / "bob-new.json"
    assert (
        hrmon("physician", "add-patient", "bob", "--device-config", str(old), env=env).returncode
        == 0
    )
    again = hrmon(
        "physician", "add-patient", "Bob", "--device-config", str(tmp_path / "x.json"), env=env
    )
    assert again.returncode != 0 and "label" in again.stderr  # one "bob" per physician
    proc = hrmon("physician", "replace-device", "bob", "--device-config", str(new), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no longer works" in proc.stdout
    refused = hrmon("device", "submit", sample, "--config", str(old), env=env)
    assert refused.returncode != 0 and "device token" in refused.stderr
    assert hrmon("device", "submit", sample, "--config", str(new), env=env).returncode == 0
