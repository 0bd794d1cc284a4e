"""Per-window cost of the heart-rate estimator (it runs on the wearable).

``python -m bench.hr_window_cost [--repeats N] [--window S]``: times
:func:`signals.heart_rate.estimate_window` on 10 s windows of the shipped samples and
prints the median and 95th percentile in milliseconds (single thread, this machine).
Also times loading+validating one sample and the whole-recording estimate.
A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from device import SAMPLES_DIR
from signals.audio import WORKING_RATE, load_audio
from signals.heart_rate import estimate_heart_rate, estimate_window


def _times_ms(fn: object, repeats: int) -> np.ndarray:
    assert callable(fn)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    """Time the estimator; print a table and one JSON line.

    Args:
        argv: command-line arguments (None: ``sys.argv``).

    Returns:
        0.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.hr_window_cost")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--window", type=float, default=10.0, help="window length, s")
    args = parser.parse_args(argv)
    files = sorted(SAMPLES_DIR.glob("*.wav"))
    signals = [load_audio(f) for f in files]
    n = round(args.window * WORKING_RATE)
    windows = [s[:n] for s in signals]
    estimate_window(windows[0])  # warm caches (filter design)
    per_window = np.concatenate(
        [_times_ms(lambda w=w: estimate_window(w), args.repeats) for w in windows]
    )
    whole = np.concatenate(
        [_times_ms(lambda s=s: estimate_heart_rate(s), args.repeats // 4) for s in signals]
    )
    load = _times_ms(lambda: load_audio(files[0]), args.repeats // 4)
    result = {
        "window_s": args.window,
        "window_ms_median": round(float(np.median(per_window)), 3),
        "window_ms_p95": round(float(np.percentile(per_window, 95)), 3),
        "recording_15s_ms_median": round(float(np.median(whole)), 3),
        "load_15s_wav_ms_median": round(float(np.median(load)), 3),
    }
    print(
        f"estimate_window, {args.window:g} s at {WORKING_RATE} Hz: "
        f"median {result['window_ms_median']} ms, p95 {result['window_ms_p95']} ms"
    )
    print(f"estimate_heart_rate, 15 s recording: median {result['recording_15s_ms_median']} ms")
    print(f"load_audio, 15 s wav: median {result['load_15s_wav_ms_median']} ms")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
