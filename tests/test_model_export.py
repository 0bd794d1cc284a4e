"""Exported ONNX equals the PyTorch model on real recordings; int8 agrees with fp32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device import SAMPLES_DIR
from signals.audio import load_audio
from signals.features import recording_windows

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO_ROOT / "model"
PHYSIONET = REPO_ROOT.parent / "shared" / "data" / "physionet2016"
# Two abnormal and two normal recordings from different sets.
RECORDS = ["training-a/a0001", "training-a/a0007", "training-b/b0008", "training-e/e00002"]


def _real_windows() -> np.ndarray:
    paths = [PHYSIONET / f"{r}.flac" for r in RECORDS]
    paths = [p for p in paths if p.is_file()]
    paths += sorted(SAMPLES_DIR.glob("*.wav"))
    if not paths:
        pytest.skip("no real recordings: ../shared/data and device/samples both absent")
    return np.concatenate([recording_windows(load_audio(p)) for p in paths])


def _onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(["prob"], {"features": x})[0])


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return _real_windows()


def test_shipped_fp32_equals_shipped_torch_weights(windows: np.ndarray) -> None:
    torch = pytest.importorskip("torch", reason="torch (train extra) not installed")
    from model.net import build_net

    ckpt = torch.load(MODEL_DIR / "heart_cnn.pt", map_location="cpu")
    net = build_net(ckpt["arch"], int(ckpt["in_channels"]), tuple(ckpt["widths"])).eval()
    net.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(windows))).numpy()
    got = _onnx(MODEL_DIR / "heart_cnn.fp32.onnx", windows)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ["2d", "1d"])
def test_fresh_export_equals_torch(windows: np.ndarray, tmp_path: Path, arch: str) -> None:
    torch = pytest.importorskip("torch", reason="torch (train extra) not installed")
    pytest.importorskip("onnx", reason="onnx (train extra) not installed")
    from model.export import export_fp32
    from model.net import build_net
    from signals.features import DEFAULT_PARAMS

    torch.manual_seed(3)
    net = build_net(arch, DEFAULT_PARAMS.n_channels).eval()
    for m in net.modules():  # non-trivial batch-norm statistics, so folding is exercised
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "m.onnx"
    export_fp32(net, path, DEFAULT_PARAMS.n_channels, DEFAULT_PARAMS.n_frames)
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(windows))).numpy()
    np.testing.assert_allclose(_onnx(path, windows), expected, atol=1e-5, rtol=1e-4)


def test_int8_is_static_qdq_and_agrees_with_fp32(windows: np.ndarray) -> None:
    onnx = pytest.importorskip("onnx", reason="onnx not installed")
    int8 = MODEL_DIR / "heart_cnn.int8.onnx"
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "ConvInteger" not in ops  # dynamic quantisation; the CPU provider cannot run it
    p32 = _onnx(MODEL_DIR / "heart_cnn.fp32.onnx", windows)
    p8 = _onnx(int8, windows)
    # Each file has its own validation-chosen threshold (int8 runs ~0.02 lower); the
    # recording-level test MAcc of the two differs by 1 point (docs/model.md). Per
    # window, measured: mean |difference| 0.05, decisions agree on 94 of 100 windows.
    thresholds = json.loads((MODEL_DIR / "heart_cnn.json").read_text())["thresholds"]
    same = (p32 >= thresholds["heart_cnn.fp32.onnx"]) == (p8 >= thresholds["heart_cnn.int8.onnx"])
    assert float(np.mean(same)) >= 0.85
    assert float(np.mean(np.abs(p8 - p32))) < 0.08


def test_shipped_files_are_small() -> None:
    for name in ("heart_cnn.fp32.onnx", "heart_cnn.int8.onnx", "heart_cnn.pt"):
        assert (MODEL_DIR / name).stat().st_size < 1_000_000
