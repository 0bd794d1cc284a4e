"""Choose and cut the demo's recordings by a fixed rule, never by hand.

``python -m evaluation.pick_demo_samples [--seed 0]`` (needs the ``eval`` extra for the ECG):

1. Candidates: the ``training-a`` recordings in the shipped split's **test** part
   (``model/split.json``): subjects the model never saw; training-a because its
   simultaneous ECG gives every sample a measured heart rate.
2. Shuffle them with ``numpy.random.default_rng(seed)``.
3. Walk the shuffled list and keep a recording when its ECG is trusted over the crop
   (``evaluation.heart_rate.ecg_truth``: the R-peak detectors agree) and the crop holds
   at least 10 beats, until 3 normal and 3 abnormal are kept.
4. Cut 15 s from 2 s in (unchanged samples, 16-bit WAV at 2000 Hz) into
   ``device/samples/`` and write the ``samples`` list of ``samples.json`` with the rule,
   the seed and each file's ECG heart rate (its ``heart_rate_fixtures`` list, clean
   recordings chosen for the heart-rate tests, is kept as it is).

Nothing about the model's or the heart-rate estimator's output enters the choice, so
how many of these the model gets right is an honest small sample of the test part.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from model.data import DEFAULT_DATA_DIR, REPO_ROOT, index_dataset

START_S, DURATION_S, PER_LABEL, MIN_BEATS = 2.0, 15.0, 3, 10
RATE = 2000
SAMPLES_DIR = REPO_ROOT / "device" / "samples"
RULE = (
    "training-a recordings of the test part of model/split.json, shuffled with "
    "numpy.random.default_rng(seed); the first 3 normal and 3 abnormal whose ECG is trusted "
    "over the crop (R-peak detectors agree) with at least 10 beats; 15 s from 2 s in"
)


def main(argv: list[str] | None = None) -> int:
    """Pick, cut and list the demo samples.

    Args:
        argv: ``[--seed N] [--data-dir DIR] [--out DIR]``.

    Returns:
        0 on success, 1 if the rule cannot fill every slot.
    """
    from evaluation.heart_rate import ecg_truth, rate_from_beats

    p = argparse.ArgumentParser(prog="python -m evaluation.pick_demo_samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=SAMPLES_DIR)
    args = p.parse_args(argv)

    split = json.loads((REPO_ROOT / "model" / "split.json").read_text())
    candidates = [r for r in index_dataset(args.data_dir, ("a",)) if split[r.name] == "test"]
    order = np.random.default_rng(args.seed).permutation(len(candidates))
    start, stop = round(START_S * RATE), round((START_S + DURATION_S) * RATE)
    kept: dict[int, list[dict[str, object]]] = {0: [], 1: []}
    for i in order:
        rec = candidates[int(i)]
        if len(kept[rec.label]) >= PER_LABEL:
            continue
        ecg, ecg_rate = sf.read(str(rec.path.with_suffix(".ecg.flac")), dtype="int16")
        with tempfile.TemporaryDirectory() as tmp:
            crop_path = Path(tmp) / "ecg.flac"
            sf.write(crop_path, ecg[start:stop], ecg_rate, subtype="PCM_16")
            truth, _why = ecg_truth(crop_path)
        if truth is None or truth.beats.size < MIN_BEATS:
            continue
        audio, rate = sf.read(str(rec.path), dtype="int16")
        if rate != RATE or audio.shape[0] < stop:
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        sf.write(args.out / f"{rec.name}.wav", audio[start:stop], RATE, subtype="PCM_16")
        kept[rec.label].append(
            {
                "file": f"{rec.name}.wav",
                "source_record": f"training-a/{rec.name}",
                "start_s": START_S,
                "duration_s": DURATION_S,
                "label": "abnormal" if rec.label else "normal",
                "hr_ecg_bpm": round(rate_from_beats(truth.beats, ecg_rate), 1),
                "beats_in_span": int(truth.beats.size),
            }
        )
        if all(len(v) >= PER_LABEL for v in kept.values()):
            break
    if not all(len(v) >= PER_LABEL for v in kept.values()):
        print("the rule could not fill 3 normal and 3 abnormal slots")
        return 1
    samples = sorted(kept[0] + kept[1], key=lambda s: float(str(s["hr_ecg_bpm"])))
    index_path = args.out / "samples.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    index.update(
        {
            "rate_hz": RATE,
            "rule": RULE,
            "seed": args.seed,
            "ground_truth": "60 / median RR of neurokit2 R-peaks (ecg_clean + ecg_peaks, method "
            "neurokit) on the simultaneous ECG (NAME.ecg.flac) within the cropped span",
            "samples": samples,
        }
    )
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    for s in samples:
        print(f"{s['file']}: {s['label']}, ECG {s['hr_ecg_bpm']} bpm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
