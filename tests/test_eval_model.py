"""``hrmon eval model`` on a tiny PhysioNet-layout folder of real recordings."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from model.evaluate import (
    auc_score,
    best_macro_threshold,
    best_threshold,
    binary_metrics,
    macro_macc,
    main,
    roc_points,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PHYSIONET = REPO_ROOT.parent / "shared" / "data" / "physionet2016"
PICK = [
    ("training-a", "a0001", 1),
    ("training-a", "a0007", -1),
    ("training-b", "b0008", 1),
    ("training-e", "e00002", -1),
]


def _write_wav(path: Path, samples: np.ndarray, rate: int = 2000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())


@pytest.fixture
def physionet_dir(tmp_path: Path) -> Path:
    if not all((PHYSIONET / s / f"{n}.flac").is_file() for s, n, _ in PICK):
        pytest.skip("../shared/data/physionet2016 not present")
    lines = []
    for s, n, label in PICK:
        shutil.copy(PHYSIONET / s / f"{n}.flac", tmp_path / f"{n}.flac")
        lines.append(f"{n},{label}")
    (tmp_path / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.data
def test_eval_prints_metrics_and_json(
    physionet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(physionet_dir), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any("sens" in line and "MAcc" in line and "TP" in line for line in out)
    result = json.loads(out[-1])
    assert result["n"] == 4
    assert result["n_abnormal"] == 2 and result["n_normal"] == 2
    for key in ("sensitivity", "specificity", "macc", "auc"):
        assert 0.0 <= result[key] <= 1.0
    assert result["tp"] + result["fn"] + result["tn"] + result["fp"] == 4


@pytest.mark.data
def test_crop_scores_the_first_seconds_and_refuses_less_than_two(
    physionet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(physionet_dir), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([str(physionet_dir), "--crop", "2", "--json"]) == 0
    cropped = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert whole["crop_s"] is None and cropped["crop_s"] == 2.0
    assert cropped["n"] + cropped["refused"] == 4  # clipped crops are refused, as on a device
    with pytest.raises(SystemExit):
        main([str(physionet_dir), "--crop", "1.5"])
    assert "--crop: between 2 and 3600 seconds" in capsys.readouterr().err


@pytest.mark.data
def test_eval_refuses_bad_audio_and_uses_split(
    physionet_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_wav(physionet_dir / "bad1.wav", np.zeros(20000))
    with (physionet_dir / "REFERENCE.csv").open("a") as fh:
        fh.write("bad1,1\n")
    split = tmp_path / "split.json"
    split.write_text(
        json.dumps(
            {"a0001": "test", "a0007": "train", "b0008": "test", "e00002": "test", "bad1": "test"}
        )
    )
    assert main([str(physionet_dir), "--json", "--split", str(split), "--part", "test"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == 3
    assert result["refused"] == 1
    assert "bad1" in out and "silent" in out


@pytest.mark.data
def test_eval_folder_of_sets_reports_per_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not all((PHYSIONET / s / f"{n}.flac").is_file() for s, n, _ in PICK):
        pytest.skip("../shared/data/physionet2016 not present")
    for s, n, label in PICK:
        (tmp_path / s).mkdir(exist_ok=True)
        shutil.copy(PHYSIONET / s / f"{n}.flac", tmp_path / s / f"{n}.flac")
        with (tmp_path / s / "REFERENCE.csv").open("a") as fh:
            fh.write(f"{n},{label}\n")
    plots = tmp_path / "plots"
    assert main([str(tmp_path), "--json", "--plots", str(plots)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert set(result["per_set"]) == {"a", "b", "e"}
    assert result["per_set"]["a"]["n"] == 2
    for m in result["per_set"].values():
        assert {"n", "sensitivity", "specificity", "macc", "auc"} <= set(m)
    # only training-a holds both classes, so the macro mean is its MAcc
    assert result["macro_sets"] == ["a"]
    assert result["macro_macc"] == pytest.approx(result["per_set"]["a"]["macc"])
    assert any(line.startswith("macro") for line in out)
    # one ROC per set with both classes, and the pooled one; real PNG files
    written = sorted(p.name for p in plots.iterdir())
    assert written == ["roc-a.png", "roc-overall.png"]
    assert (plots / "roc-a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_missing_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "REFERENCE.csv" in capsys.readouterr().err


def test_metrics_by_hand() -> None:
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.7, 0.1]
    m = binary_metrics(labels, scores, 0.5)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 1, 1)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1 / 2)
    assert m["macc"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert auc_score(labels, scores) == pytest.approx(4 / 6)
    assert auc_score([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    thr, macc = best_threshold(labels, scores)
    assert binary_metrics(labels, scores, thr)["macc"] == pytest.approx(macc)
    assert macc >= m["macc"]


def test_macro_macc_weighs_each_set_once() -> None:
    # set a: perfect at 0.5; set e (many recordings): all wrong at 0.5
    labels = [1, 0] + [1] * 5 + [0] * 5
    scores = [0.9, 0.1] + [0.2] * 5 + [0.8] * 5
    sets = ["a", "a"] + ["e"] * 10
    assert macro_macc(labels, scores, sets, 0.5) == pytest.approx((1.0 + 0.0) / 2)
    # c is reported elsewhere but never averaged in
    assert macro_macc([1, 0], [0.9, 0.1], ["c", "c"], 0.5) != macro_macc(
        [1, 0], [0.9, 0.1], ["c", "c"], 0.5
    )  # NaN: no macro set present
    thr, best = best_macro_threshold(labels, scores, sets)
    assert macro_macc(labels, scores, sets, thr) == pytest.approx(best)
    assert best >= 0.5
    # an extra set (another stethoscope trained with) counts like a, b, d, e, f
    two = macro_macc([*labels, 1, 0], [*scores, 0.1, 0.9], [*sets, "bmdhs", "bmdhs"], 0.5)
    assert two == pytest.approx((1.0 + 0.0 + 0.0) / 3)


def test_auc_by_diagnosis_against_the_same_sets_normals() -> None:
    from model.cycle_train import by_diagnosis

    names = [f"r{i}" for i in range(12)]
    labels = [1] * 6 + [1] + [0] * 5
    scores = [0.9, 0.8, 0.7, 0.6, 0.55, 0.95, 0.2, 0.1, 0.3, 0.4, 0.5, 0.65]
    diagnosis_of = {f"r{i}": "MVP" for i in range(6)} | {"r6": "AD"}
    out = by_diagnosis(names, labels, scores, diagnosis_of)
    assert list(out) == ["MVP"]  # AD has one recording: below the minimum, left out
    assert out["MVP"]["n"] == 6
    assert out["MVP"]["auc"] == pytest.approx(28 / 30)  # 0.6 and 0.55 rank below 0.65
    assert by_diagnosis(names[:6], labels[:6], scores[:6], diagnosis_of) == {}  # no normals


def test_roc_points_end_at_the_corners_and_match_auc() -> None:
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.7, 0.1]
    fpr, tpr = roc_points(labels, scores)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc_score(labels, scores))


def test_yaseen_layout_feeds_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Yaseen converter's folder is what ``hrmon eval model`` reads: N -> normal,
    every valve class -> abnormal; unrelated files are ignored, a duplicate name refused."""
    from evaluation.yaseen_layout import main as layout_main

    samples = REPO_ROOT / "device" / "samples"
    src = tmp_path / "unpacked"
    for cls, sample in (("N", "a0018"), ("MR", "a0020"), ("MS", "a0022"), ("N", "a0056")):
        folder = src / f"{cls}_New_3" / "inner"
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(src.rglob(f"New_{cls}_*.wav"))) + 1
        shutil.copy(samples / f"{sample}.wav", folder / f"New_{cls}_{number:03d}.wav")
    shutil.copy(samples / "a0060.wav", src / "notes.wav")
    dst = tmp_path / "layout"
    assert layout_main([str(src), str(dst)]) == 0
    reference = (dst / "yaseen" / "REFERENCE.csv").read_text().split()
    assert reference == ["New_MR_001,1", "New_MS_001,1", "New_N_001,-1", "New_N_002,-1"]
    capsys.readouterr()
    assert main([str(dst), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["per_set"]["yaseen"]["n"] == 4
    assert (result["n_abnormal"], result["n_normal"]) == (2, 2)

    shutil.copy(samples / "a0161.wav", src / "New_N_001.wav")
    assert layout_main([str(src), str(tmp_path / "again")]) == 2
    assert "appears twice" in capsys.readouterr().err


def test_device_path_judges_only_what_the_device_would_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shipped samples and a real recording with no heart in it (tests/audio/): hrmon eval
    device-path holds the latter back and counts it, and refuses --model."""
    from device import SAMPLES_DIR
    from evaluation import device_path

    folder = tmp_path / "mixed"
    folder.mkdir()
    artifact = REPO_ROOT / "tests" / "audio" / "pascal_artifact_201106101314.wav"
    shutil.copy(artifact, folder / "artifact.wav")
    names = {"a0386": -1, "a0161": -1, "a0341": 1, "artifact": -1}
    for name in names:
        if name != "artifact":
            shutil.copy(SAMPLES_DIR / f"{name}.wav", folder / f"{name}.wav")
    (folder / "REFERENCE.csv").write_text("".join(f"{n},{y}\n" for n, y in names.items()))
    assert main([str(folder), "--json"]) == 0
    every = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert every["n"] == 4 and "held_back" not in every
    assert device_path.main([str(folder), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    sent = json.loads(out[-1])
    assert sent["n"] == 3 and sent["held_back"] == 1 and sent["per_set"]["mixed"]["held_back"] == 1
    assert any(line.startswith("1 recording(s) held back") for line in out)
    with pytest.raises(SystemExit):
        device_path.main([str(folder), "--model", str(REPO_ROOT / "model" / "heart_cnn.int8.onnx")])
    assert "the device judges with the shipped model" in capsys.readouterr().err
