"""hrmon eval heart-rate on a tiny PhysioNet-layout directory built from the samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.io import savemat

from device import SAMPLES_DIR
from evaluation.heart_rate import main, rate_from_beats, s1_truth

LISTED = json.loads((SAMPLES_DIR / "samples.json").read_text())["heart_rate_fixtures"][:3]
RATE = 2000


def _state_ans(path: Path, bpm: float, seconds: float, systole: float = 0.3) -> None:
    """A ``NAME_StateAns.mat`` in PhysioNet's layout with S1 every 60/bpm s."""
    rows: list[list[object]] = [[1, "diastole"]]
    t = 0.2
    while t < seconds - 0.5:
        rows.append([int(t * RATE), "S1"])
        rows.append([int((t + 0.1) * RATE), "systole"])
        rows.append([int((t + systole) * RATE), "S2"])
        rows.append([int((t + systole + 0.1) * RATE), "diastole"])
        t += 60.0 / bpm
    cells = np.empty((len(rows), 2), dtype=object)
    for i, (sample, state) in enumerate(rows):
        cells[i, 0] = np.array([[sample]], dtype=np.uint16)
        cells[i, 1] = np.array([np.array([state])], dtype=object)
    savemat(str(path), {"state_ans": cells})


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """root/training-x/{REFERENCE.csv,*.wav} and root/annotations/hand_corrected/training-x."""
    set_dir = tmp_path / "training-x"
    ann_dir = tmp_path / "annotations" / "hand_corrected" / "training-x"
    set_dir.mkdir()
    ann_dir.mkdir(parents=True)
    lines = []
    for item in LISTED:
        name = item["file"].removesuffix(".wav")
        shutil.copy(SAMPLES_DIR / item["file"], set_dir / item["file"])
        _state_ans(ann_dir / f"{name}_StateAns.mat", item["hr_ecg_bpm"], item["duration_s"])
        lines.append(f"{name},{1 if item['label'] == 'abnormal' else -1}")
    (set_dir / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    return set_dir


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_s1_annotations_parse(layout: Path) -> None:
    name = LISTED[0]["file"].removesuffix(".wav")
    truth = s1_truth(
        layout.parent / "annotations/hand_corrected/training-x" / f"{name}_StateAns.mat"
    )
    assert truth is not None and truth.kind == "s1"
    assert rate_from_beats(truth.beats, RATE) == pytest.approx(LISTED[0]["hr_ecg_bpm"], abs=0.3)


def test_rate_from_beats_needs_three_beats() -> None:
    beats = np.array([0, 2000, 4000, 6000], dtype=np.int64)
    assert rate_from_beats(beats, RATE) == pytest.approx(60.0)
    assert np.isnan(rate_from_beats(beats, RATE, 3000, 7000))


def test_eval_json_against_s1(layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(layout), "--json"]) == 0
    out = capsys.readouterr().out
    result = _last_json(out)
    assert result["truth"] == "s1"
    assert result["n"] == 3 and result["records"] == 3
    assert result["usable_fraction"] == 1.0
    assert result["within_5bpm"] == 1.0
    assert result["mae_bpm"] < 2.0
    assert "training-x" in out and "S1" in out
    assert result["s1"]["window"]["training-x"]["n"] >= 3


def test_unreadable_recording_counts_as_unusable(
    layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (layout / LISTED[0]["file"]).write_bytes(b"not audio")
    assert main([str(layout), "--json"]) == 0
    result = _last_json(capsys.readouterr().out)
    assert result["n"] == 3 and result["n_usable"] == 2
    assert result["usable_fraction"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["load_errors"] == 1


def test_annotations_option_and_every(
    layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "elsewhere"
    shutil.move(layout.parent / "annotations" / "hand_corrected", moved)
    assert main([str(layout), "--json", "--annotations", str(moved), "--every", "2"]) == 0
    assert _last_json(capsys.readouterr().out)["n"] == 2


def test_no_ground_truth_is_an_error(layout: Path) -> None:
    shutil.rmtree(layout.parent / "annotations")
    assert main([str(layout)]) == 2


def test_not_a_physionet_dir(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path)])


@pytest.mark.slow  # neurokit2 import and five R-peak detectors: a few seconds
def test_ecg_ground_truth(layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nk = pytest.importorskip("neurokit2", reason="needs the eval extra (neurokit2)")
    item = LISTED[0]
    name = item["file"].removesuffix(".wav")
    ecg = nk.ecg_simulate(
        duration=int(item["duration_s"]),
        sampling_rate=RATE,
        heart_rate=item["hr_ecg_bpm"],
        heart_rate_std=0,
        noise=0.01,
        random_state=0,
    )
    sf.write(layout / f"{name}.ecg.flac", 0.5 * ecg / np.max(np.abs(ecg)), RATE)
    assert main([str(layout), "--json"]) == 0
    result = _last_json(capsys.readouterr().out)
    assert result["truth"] == "ecg" and result["n"] == 1
    assert result["ecg_untrusted"] == 0
    assert result["mae_bpm"] < 3.0


@pytest.mark.data
def test_real_training_a_subset(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = shared_data / "physionet2016" / "training-a"
    assert main([str(directory), "--json", "--every", "60", "--no-ecg"]) == 0
    result = _last_json(capsys.readouterr().out)
    assert result["records"] == 7 and result["truth"] == "s1"
    assert result["n"] == 7
    assert result["usable_fraction"] > 0.3 and result["within_5bpm"] > 0.8
