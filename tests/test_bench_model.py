"""Benchmark (not a timed test): CNN inference per 5 s window, fp32 and int8, one thread.

Run: ``pytest tests/test_bench_model.py --benchmark-only``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signals.features import DEFAULT_PARAMS, window_features

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark (bench extra) not installed")

MODEL_DIR = Path(__file__).resolve().parent.parent / "model"


def _window() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal(DEFAULT_PARAMS.window_samples).astype(np.float32) * 0.1


@pytest.mark.parametrize("name", ["heart_cnn.fp32.onnx", "heart_cnn.int8.onnx"])
def test_bench_cnn_per_window(benchmark: pytest.FixtureRequest, name: str) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(MODEL_DIR / name), opts, providers=["CPUExecutionProvider"])
    x = window_features(_window())[None, None]
    out = benchmark(lambda: sess.run(["prob"], {"features": x}))  # type: ignore[operator]
    assert out[0].shape == (1,)


def test_bench_features_per_window(benchmark: pytest.FixtureRequest) -> None:
    w = _window()
    out = benchmark(lambda: window_features(w))  # type: ignore[operator]
    assert out.shape == (DEFAULT_PARAMS.n_mels, DEFAULT_PARAMS.n_frames)
