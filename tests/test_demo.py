"""``hrmon demo`` as a real subprocess (it starts real servers): the physician's decrypted
view must equal what follows, independently, from the device's own analysis of the same
files and the ranges the demo set."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from client.encrypt import encode_range, expected_result
from device.analysis import analyse_file, model_threshold
from device.cli import reading_from
from ops.demo import SAMPLES_DIR
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    report = base / "report.json"
    proc = _run_demo("--insecure-test-keys", "--dir", str(base / "work"), "--report", str(report))
    return proc, json.loads(report.read_text()), base / "work"


def test_the_demo_completes_and_says_so(demo_run):
    proc, report, _ = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report["ok"] is True
    assert "demo complete" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_physicians_view_matches_the_devices_own_analysis(demo_run):
    _, report, _ = demo_run
    threshold = model_threshold()
    checked = 0
    for patient in report["patients"]:
        assert patient["threshold"] == pytest.approx(threshold)
        bounds = encode_range(
            patient["low"], patient["high"], patient["threshold"], patient["irregularity_threshold"]
        )
        decided = []
        for reading in patient["readings"]:
            analysis = analyse_file(SAMPLES_DIR / reading["file"])
            assert reading["sent"] is analysis.sendable, reading["file"]
            if not analysis.sendable:
                continue
            expected = expected_result(reading_from(analysis, None, None), bounds)
            assert reading["status"] == "done"
            assert reading["abnormal"] is expected, (patient["label"], reading["file"])
            decided.append(expected)
            checked += 1
        assert patient["tally_count"] == len(decided)
        assert patient["tally_abnormal"] == sum(decided)
    assert checked >= 3


def test_the_demo_shows_both_outcomes_and_an_abnormal_heart_rate(demo_run):
    _, report, _ = demo_run
    bits = [r["abnormal"] for p in report["patients"] for r in p["readings"] if r["sent"]]
    assert True in bits and False in bits
    narrow = [p for p in report["patients"] if p["high"] - p["low"] <= 15]
    assert narrow, "a patient with a narrow range"
    # Outside the range means abnormal, whatever the CNN said (the physician cannot tell why).
    by_rate = [
        r
        for p in narrow
        for r in p["readings"]
        if r["sent"]
        and r["device"]["bpm"] is not None  # a score-only reading has no rate to check
        and not p["low"] <= round(r["device"]["bpm"], 1) <= p["high"]
    ]
    assert by_rate and all(r["abnormal"] for r in by_rate)


def test_an_irregular_rhythm_at_a_normal_rate_is_abnormal_and_a_regular_one_normal(demo_run):
    """Real servers, one range: the ECG wearable's AF recordings come out abnormal and
    its sinus-rhythm ones normal, at rates inside the range and no score (ECG), so only
    the encrypted rhythm comparison can tell them apart."""
    _, report, _ = demo_run
    (ecg,) = [
        p for p in report["patients"] if any(r["file"].startswith("ecg/") for r in p["readings"])
    ]
    verdicts = {}
    for reading in ecg["readings"]:
        device = reading["device"]
        assert reading["sent"] and reading["status"] == "done", reading["file"]
        assert ecg["low"] <= device["bpm"] <= ecg["high"] and device["score"] is None
        verdicts[reading["physionet_label"]] = verdicts.get(reading["physionet_label"], set()) | {
            reading["abnormal"]
        }
    assert verdicts == {"atrial fibrillation": {True}, "normal rhythm": {False}}
    # the same-rate pair of device/samples/ecg/README.md: A00004 (AF) and A00006 (sinus)
    rates = {r["file"]: r["device"]["bpm"] for r in ecg["readings"]}
    assert abs(rates["ecg/A00004.hea"] - rates["ecg/A00006.hea"]) < 10


def test_the_demo_prints_each_partys_view_without_plaintext_on_server_a(demo_run):
    proc, report, _ = demo_run
    out = proc.stdout
    for title in ("physician", "each device", "server A stored", "server B stored"):
        assert title in out
    server_a_part = out[out.index("server A stored") : out.index("server B stored")]
    for patient in report["patients"]:
        for reading in patient["readings"]:
            device = reading["device"]
            if reading["sent"] and device["bpm"] is not None:
                assert f"{device['bpm']:.1f} bpm" not in server_a_part
            if reading["sent"] and device["score"] is not None:
                assert f"{device['score']:.4f}" not in server_a_part


def test_the_demo_refuses_a_used_directory_with_a_clear_message(tmp_path):
    (tmp_path / "something").write_text("x")
    proc = _run_demo("--insecure-test-keys", "--dir", str(tmp_path))
    assert proc.returncode != 0
    assert "not empty" in proc.stderr and "Traceback" not in proc.stderr
