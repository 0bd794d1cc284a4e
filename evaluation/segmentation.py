"""``hrmon eval segmentation``: fit the segmenter's emissions and score it against annotations.

The hand-corrected PhysioNet 2016 annotations (``NAME_StateAns.mat``: start sample and
state of every S1, systole, S2 and diastole at 2 kHz; ``(N``/``N)`` bracket noisy spans)
give a state for every 20 ms frame. ``--fit`` fits :class:`signals.segmentation.EmissionModel`
on the recordings of the subject-wise split's *train* part (``model.data.split_by_subject``,
seed 0) and writes ``signals/segmenter.json``; the score is always on the *test* part.

Score: Springer's event F1. A detected S1 (S2) is a true positive when its centre lies
within 60 ms of an annotated S1 (S2) centre not already matched; events are counted only
inside the annotated, non-noisy span.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import cli_help
from signals.segmentation import (
    FEATURE_RATE,
    STATES,
    EmissionModel,
    envelopes,
    segment,
    shipped_emissions,
    sound_centres,
)

IntArray = npt.NDArray[np.int64]
TOLERANCE_S = 0.06
ANNOTATION_RATE = 2000


def annotated_states(path: Path, n_frames: int) -> IntArray:
    """State index per 50 Hz frame from a ``_StateAns.mat`` file; -1 where unknown or noisy.

    Args:
        path: the annotation file.
        n_frames: frames of the recording at :data:`signals.segmentation.FEATURE_RATE`.

    Returns:
        int64 ``(n_frames,)``.
    """
    from scipy.io import loadmat

    from evaluation.heart_rate import _unwrap

    table = loadmat(str(path))["state_ans"]
    step = ANNOTATION_RATE // FEATURE_RATE
    out = np.full(n_frames, -1, dtype=np.int64)
    rows = [(int(_unwrap(r[0])) - 1, str(_unwrap(r[1])).strip()) for r in table]
    for k, (start, name) in enumerate(rows):
        stop = rows[k + 1][0] if k + 1 < len(rows) else start  # the last row only opens
        if name not in STATES:
            continue  # '(N' opens a noisy span, left at -1 up to the next state
        out[start // step : stop // step] = STATES.index(name)
    return out


def event_counts(found: IntArray, truth: IntArray) -> tuple[int, int, int]:
    """True positives, false positives, false negatives over S1 and S2 events.

    Args:
        found: segmenter states per frame.
        truth: annotated states per frame (-1 unknown).

    Returns:
        ``(tp, fp, fn)``.
    """
    known = np.flatnonzero(truth >= 0)
    if known.size == 0:
        return 0, 0, 0
    lo, hi = known[0] / FEATURE_RATE, (known[-1] + 1) / FEATURE_RATE
    tp = fp = fn = 0
    for which in (0, 2):
        ref = list(sound_centres(truth, which))
        det = [c for c in sound_centres(found, which) if lo <= c <= hi]
        used = [False] * len(ref)
        for c in det:
            best = None
            for i, r in enumerate(ref):
                if (
                    not used[i]
                    and abs(c - r) <= TOLERANCE_S
                    and (best is None or abs(c - r) < abs(c - ref[best]))
                ):
                    best = i
            if best is None:
                fp += 1
            else:
                used[best] = True
                tp += 1
        fn += used.count(False)
    return tp, fp, fn


def f1(tp: int, fp: int, fn: int) -> float:
    """Event F1 (NaN when nothing was annotated or found)."""
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def _records(data_dir: Path, part: str, sets: tuple[str, ...]) -> list[Any]:
    from model.data import index_dataset, split_by_subject

    records = index_dataset(data_dir, sets)
    split = split_by_subject(records, seed=0)
    return [r for r in records if split[r.name] == part]


def _annotation(data_dir: Path, rec: Any) -> Path:
    return (
        data_dir
        / "physionet2016"
        / "annotations"
        / "hand_corrected"
        / f"training-{rec.set_name}"
        / f"{rec.name}_StateAns.mat"
    )


def fit(data_dir: Path, sets: tuple[str, ...], limit: int | None) -> EmissionModel:
    """Fit the emissions on the train part's annotated recordings.

    Args:
        data_dir: the shared data folder.
        sets: training sets to use.
        limit: at most this many recordings per set (None: all).

    Returns:
        The fitted model.
    """
    from model.data import read_training_audio

    feats, states = [], []
    per_set: dict[str, int] = defaultdict(int)
    for rec in _records(data_dir, "train", sets):
        ann = _annotation(data_dir, rec)
        if not ann.is_file() or (limit is not None and per_set[rec.set_name] >= limit):
            continue
        per_set[rec.set_name] += 1
        f = envelopes(read_training_audio(rec.path))
        s = annotated_states(ann, f.shape[0])
        feats.append(f[s >= 0])
        states.append(s[s >= 0])
    return EmissionModel.fit(feats, states)


def main(argv: list[str]) -> int:
    """Fit (optionally) and score the segmenter per set on the test part.

    Args:
        argv: ``[--data-dir DIR] [--fit] [--sets abcdef] [--limit N] [--json]``.

    Returns:
        0 on success.
    """
    from model.data import DEFAULT_DATA_DIR, SETS, read_training_audio

    p = cli_help.parser(prog="hrmon eval segmentation", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--fit", action="store_true", help="refit and write signals/segmenter.json")
    p.add_argument("--sets", default="".join(SETS))
    p.add_argument("--limit", type=int, default=None, help="recordings per set (fit and score)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    sets = tuple(args.sets)
    emissions = shipped_emissions() if not args.fit else fit(args.data_dir, sets, args.limit)
    if args.fit:
        out = Path(__file__).resolve().parent.parent / "signals" / "segmenter.json"
        out.write_text(
            json.dumps(
                {
                    "emissions": emissions.to_dict(),
                    "fitted_on": "train part of split_by_subject(seed=0), hand-corrected "
                    f"annotations, sets {''.join(sets)}",
                    "argv": ["hrmon", "eval", "segmentation", *argv],
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {out}")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    n_rec: dict[str, int] = defaultdict(int)
    for rec in _records(args.data_dir, "test", sets):
        ann = _annotation(args.data_dir, rec)
        if not ann.is_file() or (args.limit is not None and n_rec[rec.set_name] >= args.limit):
            continue
        n_rec[rec.set_name] += 1
        x = read_training_audio(rec.path)
        found = segment(x, emissions=emissions)
        truth = annotated_states(ann, found.size)
        for k, v in enumerate(event_counts(found, truth)):
            counts[rec.set_name][k] += v
    result: dict[str, Any] = {"per_set": {}, "tolerance_s": TOLERANCE_S}
    for set_name in sorted(counts):
        tp, fp, fn = counts[set_name]
        result["per_set"][set_name] = {"n": n_rec[set_name], "f1": f1(tp, fp, fn)}
        print(f"training-{set_name}: n={n_rec[set_name]:4d}  S1/S2 F1 {f1(tp, fp, fn):.3f}")
    total = np.sum([counts[s] for s in counts], axis=0)
    result["f1"] = f1(int(total[0]), int(total[1]), int(total[2]))
    result["n"] = sum(n_rec.values())
    print(f"all:        n={result['n']:4d}  S1/S2 F1 {result['f1']:.3f}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0
