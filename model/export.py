"""Export a trained run to ONNX (fp32) and static int8 (QDQ), and ship it in ``model/``.

``python -m model.export --run model/runs/main`` writes:

* ``model/heart_cnn.fp32.onnx``: the probability model (input ``features``
  ``(batch, 1, n_mels, n_frames)``, output ``prob`` ``(batch,)``);
* ``model/heart_cnn.int8.onnx``: static QDQ quantisation with onnxruntime (weights int8
  per channel, activations uint8) calibrated on real training windows - dynamic
  quantisation of Conv yields ConvInteger, which the CPU provider cannot load;
* ``model/heart_cnn.json``: feature parameters, window, aggregation, and one decision
  threshold per model file, each the one maximising MAcc on the VALIDATION part;
* ``model/heart_cnn.pt``: the torch weights (for the ONNX-vs-torch test);
* ``model/split.json``: record -> train/val/test of the run (so ``hrmon eval model
  --part test`` scores exactly the held-out recordings);
* the ``export`` entry of ``model/metrics.json``: parameters, file sizes, ONNX-vs-torch
  and int8-vs-fp32 differences, per-window latency.

Needs the ``train`` extra (torch, onnx).

About 300 lines: export, quantisation, agreement checks and threshold choice for one
shipped model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.data import DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, index_dataset, load_features
from model.evaluate import best_macro_threshold, merge_metrics
from signals.features import FeatureParams

MODEL_DIR = Path(__file__).resolve().parent
INPUT_NAME = "features"
OUTPUT_NAME = "prob"


def export_fp32(net: Any, path: Path, n_mels: int, n_frames: int) -> None:
    """Export ``sigmoid(net(x))`` to ONNX with a dynamic batch axis.

    Args:
        net: a trained ``HeartCNN``.
        path: output ``.onnx``.
        n_mels: mel bands of the input.
        n_frames: frames of the input.
    """
    import torch

    from model.net import ProbabilityModel

    wrapped = ProbabilityModel(net).eval()
    dummy = torch.zeros(1, 1, n_mels, n_frames)
    # The TorchScript exporter (dynamo=False) needs no onnxscript and gives a plain graph.
    torch.onnx.export(
        wrapped,
        (dummy,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


class WindowReader:
    """``CalibrationDataReader`` over real training windows, one window per call.

    Args:
        windows: float32 ``(n, 1, n_mels, n_frames)``.
    """

    def __init__(self, windows: npt.NDArray[np.float32]) -> None:
        self._windows = windows
        self._it: Iterator[dict[str, npt.NDArray[np.float32]]] = self._gen()

    def _gen(self) -> Iterator[dict[str, npt.NDArray[np.float32]]]:
        for i in range(len(self._windows)):
            yield {INPUT_NAME: self._windows[i : i + 1]}

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        """Next calibration feed, or ``None`` when exhausted."""
        return next(self._it, None)

    def rewind(self) -> None:
        """Start over (onnxruntime may iterate twice)."""
        self._it = self._gen()


def quantize_int8(fp32: Path, out: Path, calibration: npt.NDArray[np.float32]) -> None:
    """Static int8 QDQ quantisation with onnxruntime's tools.

    Args:
        fp32: the fp32 model.
        out: the int8 model to write.
        calibration: float32 windows ``(n, 1, n_mels, n_frames)`` from the training part.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))  # shape inference + fusions before quantising
        quantize_static(
            str(pre),
            str(out),
            WindowReader(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )


def onnx_probs(path: Path, windows: npt.NDArray[np.float32], batch: int = 256) -> Any:
    """Window probabilities of an ONNX model (one intra-op thread).

    Args:
        path: ``.onnx`` file.
        windows: float32 ``(n, 1, n_mels, n_frames)``.
        batch: windows per run.

    Returns:
        float32 ``(n,)``.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    outs = [
        sess.run([OUTPUT_NAME], {INPUT_NAME: windows[s : s + batch]})[0]
        for s in range(0, len(windows), batch)
    ]
    return np.concatenate(outs)


def latency_ms(path: Path, window: npt.NDArray[np.float32], repeats: int = 200) -> float:
    """Median wall time of one 5 s window through the model, batch 1, one thread.

    Args:
        path: ``.onnx`` file.
        window: float32 ``(1, 1, n_mels, n_frames)``.
        repeats: timed runs (after 20 warm-up runs).

    Returns:
        Median milliseconds.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for _ in range(20):
        sess.run([OUTPUT_NAME], {INPUT_NAME: window})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run([OUTPUT_NAME], {INPUT_NAME: window})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000.0)


def _scores_by_record(
    probs: npt.NDArray[np.float32], offsets: list[tuple[int, int]]
) -> npt.NDArray[np.float64]:
    out = np.empty(len(offsets), dtype=np.float64)
    pos = 0
    for k, (a, b) in enumerate(offsets):
        out[k] = float(probs[pos : pos + b - a].mean())
        pos += b - a
    return out


def main(argv: list[str] | None = None) -> int:
    """Export, quantise, choose thresholds on validation, measure, write ``model/``.

    Args:
        argv: command-line arguments.

    Returns:
        Exit status.
    """
    p = argparse.ArgumentParser(prog="python -m model.export", description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("model/runs/main"))
    p.add_argument("--out-dir", type=Path, default=MODEL_DIR)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--calibration-windows", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from model.net import build_net, count_parameters

    torch.set_num_threads(2)
    ckpt = torch.load(args.run / "checkpoint.pt", map_location="cpu")
    net = build_net(ckpt["arch"], int(ckpt["in_channels"]), tuple(ckpt["widths"]))
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    report = json.loads((args.run / "report.json").read_text())
    split: dict[str, str] = json.loads((args.run / "split.json").read_text())
    params = FeatureParams.from_dict(report["features"])  # the run's own front end

    records = index_dataset(args.data_dir)
    cache = load_features(records, params, args.cache_dir, progress=False)
    rng = np.random.default_rng(args.seed)

    def windows_of(part: str) -> tuple[npt.NDArray[np.float32], list[tuple[int, int]], list[int]]:
        idx = [i for i, r in enumerate(records) if split[r.name] == part]
        spans = [(int(cache.offsets[i]), int(cache.offsets[i + 1])) for i in idx]
        flat = np.concatenate([np.arange(a, b) for a, b in spans])
        x = cache.features[flat].astype(np.float32)[:, None]
        return x, spans, [records[i].label for i in idx]

    args.out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path = args.out_dir / "heart_cnn.fp32.onnx"
    int8_path = args.out_dir / "heart_cnn.int8.onnx"
    export_fp32(net, fp32_path, params.n_channels, params.n_frames)

    train_x, _, _ = windows_of("train")
    calib = train_x[rng.choice(len(train_x), size=args.calibration_windows, replace=False)]
    quantize_int8(fp32_path, int8_path, calib)

    val_x, val_spans, val_labels = windows_of("val")
    val_sets = [r.set_name for r in records if split[r.name] == "val"]
    with torch.no_grad():
        torch_val = torch.sigmoid(net(torch.from_numpy(val_x))).numpy()
    thresholds: dict[str, float] = {}
    val_macc: dict[str, float] = {}
    diffs: dict[str, float] = {}
    probs_of: dict[str, npt.NDArray[np.float32]] = {}
    for path in (fp32_path, int8_path):
        probs = onnx_probs(path, val_x)
        probs_of[path.name] = probs
        thr, macc = best_macro_threshold(val_labels, _scores_by_record(probs, val_spans), val_sets)
        thresholds[path.name], val_macc[path.name] = thr, macc
        diffs[path.name] = float(np.max(np.abs(probs - torch_val)))

    config = {
        "features": params.to_dict(),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "aggregation": "mean of window probabilities",
        "default_model": int8_path.name,
        "thresholds": thresholds,
        "threshold_rule": "maximises the mean over sets a, b, d, e, f of MAcc on the "
        "validation part (subject-wise split)",
        "seed": report["seed"],
        "params": count_parameters(net),
    }
    (args.out_dir / "heart_cnn.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copyfile(args.run / "split.json", args.out_dir / "split.json")
    # The weights themselves (~100 kB), so tests can check ONNX against torch without a run.
    torch.save(
        {
            "state_dict": net.state_dict(),
            "arch": ckpt["arch"],
            "widths": list(net.widths),
            "in_channels": net.in_channels,
        },
        args.out_dir / "heart_cnn.pt",
    )

    one = val_x[:1]
    export_metrics = {
        "run": str(args.run),
        "params": count_parameters(net),
        "best_epoch": report["best_epoch"],
        "size_bytes": {p.name: p.stat().st_size for p in (fp32_path, int8_path)},
        "thresholds": thresholds,
        "validation_macro_macc_at_threshold": val_macc,
        "max_abs_prob_diff_vs_torch_on_val_windows": diffs,
        "max_abs_prob_diff_int8_vs_fp32": float(
            np.max(np.abs(probs_of[int8_path.name] - probs_of[fp32_path.name]))
        ),
        "latency_ms_per_window_batch1_1thread": {
            p.name: round(latency_ms(p, one), 3) for p in (fp32_path, int8_path)
        },
        "torch_report_test": report["test"],
        "torch_report_validation": report["validation"],
    }
    merge_metrics(args.out_dir / "metrics.json", "export", export_metrics)
    print(
        json.dumps({k: v for k, v in export_metrics.items() if not k.startswith("torch")}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
