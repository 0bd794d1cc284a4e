"""Does a set's label show in what is *not* the heart? A probe for recorder shortcuts.

``python -m model.probe_recorder [--sets abe]``: for each recording, the mean log power
spectrum (0-1000 Hz, 32 bands) of its quietest 10 % of 50 ms frames - the background
between heart sounds: room, skin contact, electronics - and nothing else. A logistic
regression then predicts the label from that alone, in 5-fold cross-validation grouped
by subject (``model.data`` subjects: a raw record of training-e is one group).

An AUC near 0.5 means the background says nothing about the label. An AUC near 1 means
the two classes were recorded under different conditions, and a net can score "abnormal"
by recognising the recording chain instead of the heart: its figure on that set is then
no evidence for other stethoscopes. Needs the ``train`` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import numpy.typing as npt

from model.data import DEFAULT_DATA_DIR, index_dataset, read_training_audio
from model.evaluate import auc_score

FRAME = 100  # 50 ms at 2 kHz
QUIET_SHARE = 0.10


def background_spectrum(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Mean log power in 32 bands over the quietest 10 % of 50 ms frames.

    Args:
        x: 2 kHz samples.

    Returns:
        32 values, with the recording's mean removed (gain does not count).
    """
    n = x.size // FRAME
    frames = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).mean(axis=1)
    quiet = frames[np.argsort(energy)[: max(1, int(QUIET_SHARE * n))]]
    power = np.abs(np.fft.rfft(quiet * np.hanning(FRAME), n=128, axis=1)) ** 2  # 65 bins
    bands = np.log(power[:, 1:65].reshape(len(quiet), 32, 2).mean(axis=2) + 1e-12).mean(axis=0)
    return np.asarray(bands - bands.mean())


def main(argv: list[str] | None = None) -> int:
    """Print the grouped cross-validated AUC of the background-only probe per set.

    Args:
        argv: ``[--sets abe] [--json]``.

    Returns:
        0.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = argparse.ArgumentParser(prog="python -m model.probe_recorder")
    p.add_argument("--sets", default="abef")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result: dict[str, float] = {}
    for set_name in args.sets:
        recs = index_dataset(DEFAULT_DATA_DIR, (set_name,))
        x = np.stack([background_spectrum(read_training_audio(r.path)) for r in recs])
        y = np.asarray([r.label for r in recs])
        groups = np.asarray([r.subject for r in recs])
        scores = np.zeros(len(recs))
        for train, test in GroupKFold(n_splits=5).split(x, y, groups):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
            clf.fit(x[train], y[train])
            scores[test] = clf.predict_proba(x[test])[:, 1]
        result[set_name] = auc_score(y, scores)
        print(f"training-{set_name}: background-only AUC {result[set_name]:.3f} (n={len(recs)})")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
