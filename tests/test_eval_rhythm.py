"""``hrmon eval rhythm``: the shipped CinC-style folder, and the shared data where present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.rhythm import main
from tests.conftest import SHARED_DATA

ECG_DIR = Path(__file__).resolve().parent.parent / "device" / "samples" / "ecg"


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out.strip().splitlines()
    result: dict[str, object] = json.loads(out[-1])
    return result


def test_shipped_folder_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(ECG_DIR), "--json"]) == 0
    result = _last_json(capsys)
    for key in ("n", "sensitivity", "specificity", "hr_mae_bpm", "not_judged"):
        assert key in result
    assert result["n"] == 4
    assert result["sensitivity"] == 1.0 and result["specificity"] == 1.0
    assert result["hr_mae_bpm"] is None


def test_unknown_layout(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 2


@pytest.mark.data
@pytest.mark.skipif(
    not (SHARED_DATA / "mitbih_sample").is_dir(), reason="needs ../shared/data/mitbih_sample"
)
def test_mitbih_windows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SHARED_DATA / "mitbih_sample"), "--json", "--window", "60"]) == 0
    result = _last_json(capsys)
    assert result["n"] == 30
    assert isinstance(result["hr_mae_bpm"], float) and result["hr_mae_bpm"] <= 2.0
    assert isinstance(result["specificity"], float) and result["specificity"] >= 0.9


@pytest.mark.data
@pytest.mark.skipif(
    not (SHARED_DATA / "physionet2016").is_dir(), reason="needs ../shared/data/physionet2016"
)
def test_heart_sound_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SHARED_DATA / "physionet2016"), "--json", "--limit", "3"]) == 0
    result = _last_json(capsys)
    assert "median_abs_error_ms" in result and result["n"] == 18
