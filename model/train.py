"""``hrmon train``: train the CNN on PhysioNet 2016 with a subject-wise split.

Needs the ``train`` extra (torch). Reproducible by ``--seed``: the split, the window
sampling, the initial weights and the augmentation all derive from it, and torch runs
with deterministic algorithms on CPU.

Writes into ``--out`` (default ``model/runs/main``, gitignored): ``checkpoint.pt``,
``split.json`` (record -> train/val/test), ``report.json`` (validation threshold,
per-set metrics of the torch model on the test part, parameter count, history).

About 550 lines: sampling, augmentation hooks, the loop, early stopping, the threshold
rule and the CLI of one training run belong together; the pieces other code reuses
(features, nets, metrics, data) live in their own modules.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import cli_help
from model.data import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    SETS,
    FeatureCache,
    Record,
    index_records,
    load_features,
    parse_extra_sets,
    quality_labels,
    read_training_audio,
    split_by_subject,
)
from model.evaluate import best_macro_threshold, binary_metrics, macro_macc, merge_metrics
from signals.features import DEFAULT_PARAMS, FeatureParams, states_at, window_features


def _parse(argv: list[str]) -> argparse.Namespace:
    p = cli_help.parser(prog="hrmon train", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="shared data folder holding physionet2016/ (default: ../shared/data)",
    )
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--out", type=Path, default=Path("model/runs/main"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the subject split (default: --seed); fix it to train an ensemble's "
        "members, each with its own --seed, on one split",
    )
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs")
    p.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    p.add_argument(
        "--average-from",
        type=int,
        default=0,
        metavar="EPOCH",
        help="stochastic weight averaging: the model is the mean of the weights after "
        "each epoch from EPOCH to --epochs (batch-norm statistics recomputed), instead of "
        "the epoch with the best validation MAcc; early stopping is then off (0: off)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument(
        "--windows-per-epoch",
        type=int,
        default=4096,
        help="windows drawn per epoch, balanced over (set, label) strata",
    )
    p.add_argument(
        "--augment-prob",
        type=float,
        default=0.8,
        help="chance that a training window is passed through model.augment",
    )
    p.add_argument(
        "--extra-set",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also train (and validate) on another labelled set in the PhysioNet layout: "
        "REFERENCE.csv, audio at any rate, optional SUBJECTS.csv (repeatable)",
    )
    p.add_argument(
        "--holdout-set",
        action="append",
        default=[],
        metavar="SET",
        help=f"leave this set ({', '.join(SETS)} or an extra set's NAME) out of train/val "
        "and test on all of it (repeatable)",
    )
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument(
        "--arch",
        choices=("1d", "2d"),
        default="1d",
        help="CNN architecture (model.net: 1d shipped, 2d for ablations)",
    )
    p.add_argument(
        "--adversary-weight",
        type=float,
        default=0.0,
        help="domain-adversarial training: weight of the reversed set-classifier gradient (0: off)",
    )
    p.add_argument(
        "--mix-style",
        type=float,
        default=0.5,
        metavar="P",
        help="MixStyle: with probability P per batch, mix windows' channel statistics "
        "(input bands and the first --mix-style-blocks blocks) across the batch (0: off; "
        "0.5 shipped, docs/model.md)",
    )
    p.add_argument(
        "--mix-style-alpha",
        type=float,
        default=0.1,
        help="MixStyle's Beta(alpha, alpha) mixing weights (larger: more even mixes)",
    )
    p.add_argument(
        "--mixup",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="mixup: each batch becomes lam * itself + (1 - lam) * a shuffled copy, labels "
        "too, lam ~ Beta(ALPHA, ALPHA); most pairs span two stethoscopes (0: off)",
    )
    p.add_argument(
        "--train-clean-only",
        action="store_true",
        help="leave out of the training part the recordings PhysioNet marks too poor to "
        "classify (REFERENCE_withSQI.csv); validation and test keep them",
    )
    p.add_argument(
        "--style-noise",
        action="store_true",
        help="redraw the statistics around their own (DSU) instead of mixing them, with "
        "--mix-style's probability at the same places",
    )
    p.add_argument(
        "--mix-style-blocks",
        type=int,
        default=1,
        help="also mix the statistics after this many of the first conv blocks (0-4)",
    )
    p.add_argument(
        "--feature",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one signals.features.FeatureParams field (ablations; repeatable)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--save-epoch-scores",
        action="store_true",
        help="also write every epoch's validation and test recording scores to "
        "epoch_scores.json (for studying how the epoch is chosen; never used to choose it)",
    )
    p.add_argument(
        "--save-metrics",
        metavar="KEY",
        default=None,
        help="also store the run's summary under KEY in model/metrics.json",
    )
    return p.parse_args(argv)


def feature_params(overrides: list[str]) -> FeatureParams:
    """The default front end with ``NAME=VALUE`` overrides (typed like the defaults).

    Args:
        overrides: e.g. ``["fmax=400", "per_band=false"]``.

    Returns:
        The parameters.

    Raises:
        SystemExit: on an unknown name or a value of the wrong type.
    """
    values = DEFAULT_PARAMS.to_dict()
    for item in overrides:
        name, _, raw = item.partition("=")
        if name not in values:
            raise SystemExit(f"--feature: unknown name {name!r} (known: {', '.join(values)})")
        kind = type(values[name])
        try:
            values[name] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
        except ValueError as exc:
            raise SystemExit(f"--feature {name}: {exc}") from exc
    return FeatureParams.from_dict(values)


def _spec_augment(x: Any, rng: np.random.Generator, n_mels: int) -> Any:
    """Zero one random band of mel bins and one of frames per example (SpecAugment).

    Only the first ``n_mels`` rows are mel bands; state rows below them are kept.
    """
    n, _, _, n_frames = x.shape
    for i in range(n):
        if rng.random() < 0.5:
            f = int(rng.integers(1, 5))
            f0 = int(rng.integers(0, n_mels - f))
            x[i, :, f0 : f0 + f, :] = 0.0
        if rng.random() < 0.5:
            t = int(rng.integers(5, 30))  # 0.1-0.6 s at a 20 ms hop
            t0 = int(rng.integers(0, n_frames - t))
            x[i, :, :, t0 : t0 + t] = 0.0
    return x


def _keep_freed_memory() -> None:
    """Stop glibc returning activation buffers to the OS after every batch.

    Each conv activation is tens of MB; by default glibc mmaps and unmaps them, and the
    page faults cost about as much system time as the convolutions (measured).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD


def stratum_probabilities(train: list[Record]) -> dict[tuple[str, int], float]:
    """Sampling probability of each (set, label) stratum: balanced over sets and labels.

    Each set gets mass proportional to the square root of its size (so training-e, 65 %
    of the recordings, does not drown the other stethoscopes, and the 20-odd recordings
    of training-c are not repeated to death), split half and half between its labels
    (so "sounds like set e" says nothing about "normal"). A set with one label in the
    training part gives it all of the set's mass.

    Args:
        train: the training records.

    Returns:
        (set, label) -> probability, summing to 1.
    """
    n_set: dict[str, int] = defaultdict(int)
    labels_of: dict[str, set[int]] = defaultdict(set)
    for rec in train:
        n_set[rec.set_name] += 1
        labels_of[rec.set_name].add(rec.label)
    total = sum(np.sqrt(n) for n in n_set.values())
    out: dict[tuple[str, int], float] = {}
    for set_name, n in n_set.items():
        share = float(np.sqrt(n) / total)
        for label in labels_of[set_name]:
            out[(set_name, label)] = share / len(labels_of[set_name])
    return out


def sample_training_windows(
    signals: dict[int, npt.NDArray[np.float32]],
    segmentations: dict[int, npt.NDArray[np.int64]],
    strata: dict[tuple[str, int], list[int]],
    probabilities: dict[tuple[str, int], float],
    n_windows: int,
    rng: np.random.Generator,
    params: FeatureParams,
    augment_prob: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """One epoch of windows: stratum, then recording, then a random offset, then augment.

    Args:
        signals: record index -> 2 kHz samples.
        segmentations: record index -> states of the clean recording (empty unless
            ``params.needs_states``); a stretched window maps its frames back.
        strata: (set, label) -> record indices.
        probabilities: from :func:`stratum_probabilities`.
        n_windows: windows to draw.
        rng: the run's generator.
        params: front end.
        augment_prob: chance that a window goes through :func:`model.augment.augment`.

    Returns:
        ``(features (n, n_channels, n_frames), labels (n,), set index (n,))``.
    """
    from model.augment import augment

    keys = sorted(probabilities)
    p = np.asarray([probabilities[k] for k in keys])
    win = params.window_samples
    span = int(np.ceil(1.1 * win)) + 1  # room for a slowing time-stretch
    feats = np.empty((n_windows, params.n_channels, params.n_frames), dtype=np.float32)
    centres = params.frame_centres()
    labels = np.empty(n_windows, dtype=np.float32)
    set_ids = np.empty(n_windows, dtype=np.int64)
    set_names = sorted({name for name, _ in keys})
    for k, stratum in enumerate(rng.choice(len(keys), size=n_windows, p=p)):
        key = keys[int(stratum)]
        record = int(rng.choice(strata[key]))
        x = signals[record]
        n = x.size
        if n < span:
            x = np.resize(x, span)  # short recordings are tiled, as on the device
        start = int(rng.integers(0, x.size - span + 1))
        segment = x[start : start + span]
        window, ratio = (
            augment(segment, rng, win) if rng.random() < augment_prob else (segment[:win], 1.0)
        )
        states = None
        if params.needs_states:
            positions = (start + centres * ratio) % n  # tiled recordings wrap around
            states = states_at(segmentations[record], positions, params.sample_rate)
        feats[k] = window_features(window, params, states)
        labels[k] = key[1]
        set_ids[k] = set_names.index(key[0])
    return feats, labels, set_ids


def segment_all(
    signals: dict[int, npt.NDArray[np.float32]], params: FeatureParams, progress: bool
) -> dict[int, npt.NDArray[np.int64]]:
    """Heart-sound states of every clean training recording (only if the features use them).

    Args:
        signals: record index -> samples.
        params: front end.
        progress: show a progress bar.

    Returns:
        record index -> states at 50 Hz (empty without ``params.needs_states``).
    """
    if not params.needs_states:
        return {}
    from rich.progress import track

    from signals.segmentation import segment

    out = {}
    for i, x in track(signals.items(), description="segmenting", disable=not progress):
        # as on the device: a recording shorter than one window is tiled first
        tiled = np.resize(x, params.window_samples) if x.size < params.window_samples else x
        out[i] = segment(tiled, params.sample_rate)
    return out


def record_scores(net: Any, cache: FeatureCache, indices: list[int], batch: int = 256) -> Any:
    """Recording scores (mean of window probabilities) of the torch model.

    Args:
        net: a ``HeartCNN`` (put in eval mode here).
        cache: window features.
        indices: record indices into ``cache``.
        batch: windows per forward pass.

    Returns:
        float64 array, one score per index.
    """
    import torch

    net.eval()
    spans = [(int(cache.offsets[i]), int(cache.offsets[i + 1])) for i in indices]
    flat = np.concatenate([np.arange(a, b) for a, b in spans])
    probs = np.empty(len(flat), dtype=np.float64)
    with torch.no_grad():
        for s in range(0, len(flat), batch):
            xb = torch.from_numpy(cache.features[flat[s : s + batch]].astype(np.float32))
            probs[s : s + batch] = torch.sigmoid(net(xb[:, None])).numpy()
    out = np.empty(len(indices), dtype=np.float64)
    pos = 0
    for k, (a, b) in enumerate(spans):
        out[k] = probs[pos : pos + (b - a)].mean()
        pos += b - a
    return out


def _per_set(
    records: list[Record], idx: list[int], scores: npt.NDArray[np.float64], threshold: float
) -> dict[str, Any]:
    labels = np.array([records[i].label for i in idx])
    out: dict[str, Any] = {"overall": binary_metrics(labels, scores, threshold)}
    by_set: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(idx):
        by_set[records[i].set_name].append(k)
    for set_name, ks in sorted(by_set.items()):
        out[set_name] = binary_metrics(labels[ks], scores[ks], threshold)
    return out


def main(argv: list[str]) -> int:
    """Train, early-stop on validation MAcc, pick the threshold, report the test part.

    Args:
        argv: command-line arguments after ``hrmon train``.

    Returns:
        Exit status (0 on success, 2 if torch is missing).
    """
    args = _parse(argv)
    if not 0 <= args.average_from <= args.epochs:
        raise SystemExit(f"--average-from takes 0-{args.epochs} (--epochs)")
    if args.mixup < 0:
        raise SystemExit("--mixup takes a Beta parameter >= 0 (0: off)")
    try:
        import torch
        from rich.progress import Progress
    except ImportError:
        print("hrmon train needs the train extra: pip install 'hrmon[train]'")
        return 2
    from model.net import SetAdversary, build_net, count_parameters

    _keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(args.seed)
    params: FeatureParams = feature_params(args.feature)

    split_seed = args.seed if args.split_seed is None else args.split_seed
    extra_sets = parse_extra_sets(args.extra_set)
    records = index_records(args.data_dir, extra_sets)
    all_sets = sorted({rec.set_name for rec in records})
    for name in args.holdout_set:
        if name not in all_sets:
            raise SystemExit(f"--holdout-set {name}: no such set (known: {', '.join(all_sets)})")
    split = split_by_subject(
        records,
        seed=split_seed,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        holdout_sets=tuple(args.holdout_set),
    )
    cache = load_features(records, params, args.cache_dir, progress=not args.no_progress)
    parts: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        parts[split[rec.name]].append(i)
    train_idx, val_idx, test_idx = parts["train"], parts["val"], parts["test"]
    if args.train_clean_only:
        poor = quality_labels(args.data_dir)
        train_idx = [i for i in train_idx if not poor.get(records[i].name, 0)]
    val_labels = np.array([records[i].label for i in val_idx])
    val_sets = [records[i].set_name for i in val_idx]
    probabilities = stratum_probabilities([records[i] for i in train_idx])
    strata: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i in train_idx:
        strata[(records[i].set_name, records[i].label)].append(i)
    signals = {i: read_training_audio(records[i].path) for i in train_idx}
    segmentations = segment_all(signals, params, not args.no_progress)

    net = build_net(args.arch, params.n_channels)
    if not 0 <= args.mix_style_blocks <= len(net.widths) or args.mix_style_alpha <= 0:
        raise SystemExit(
            f"--mix-style-blocks takes 0-{len(net.widths)} and --mix-style-alpha a positive number"
        )
    net.mix_style = args.mix_style
    net.mix_style_alpha = args.mix_style_alpha
    net.mix_style_blocks = args.mix_style_blocks
    net.style_noise = args.style_noise
    n_params = count_parameters(net)
    n_train_sets = len({key[0] for key in probabilities})
    adversary = SetAdversary(2 * net.widths[-1], n_train_sets, args.adversary_weight)
    trained = list(net.parameters()) + (
        list(adversary.parameters()) if args.adversary_weight > 0 else []
    )
    opt = torch.optim.AdamW(trained, lr=args.lr, weight_decay=args.weight_decay)
    set_loss = torch.nn.CrossEntropyLoss()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    print(
        f"records train/val/test: {len(train_idx)}/{len(val_idx)}/{len(test_idx)}; "
        f"params {n_params}; sampling per (set, label): "
        + ", ".join(f"{k[0]}{k[1]}={v:.3f}" for k, v in sorted(probabilities.items()))
    )

    # SWA (Izmailov et al. 2018; dense averaging for domain generalisation: Cha et al.,
    # SWAD, 2021): the mean of many epochs' weights lies in a flatter region than any one
    # of them, and it replaces the noisiest choice of a run, the early-stopping epoch.
    averaged = torch.optim.swa_utils.AveragedModel(net) if args.average_from else None

    def batches(feats: Any, labels: Any) -> Iterator[tuple[Any, Any, slice]]:
        for s in range(0, len(labels), args.batch_size):
            part = slice(s, s + args.batch_size)
            xb = _spec_augment(feats[part, None].copy(), rng, params.n_mels)
            yield torch.from_numpy(xb), torch.from_numpy(labels[part]), part

    def training_epoch() -> tuple[Any, Any, Any]:
        return sample_training_windows(
            signals,
            segmentations,
            strata,
            probabilities,
            args.windows_per_epoch,
            rng,
            params,
            args.augment_prob,
        )

    best: dict[str, Any] = {"macc": -1.0, "auc": -1.0, "epoch": -1, "state": None}
    epoch_scores: dict[int, dict[str, float]] = {}
    history: list[dict[str, float]] = []
    start = time.time()
    with Progress(disable=args.no_progress) as progress:
        task = progress.add_task("epoch 1", total=args.epochs)
        for epoch in range(1, args.epochs + 1):
            win_feats, win_lab, win_set = training_epoch()
            n_windows = len(win_lab)
            net.train()
            total = 0.0
            batch_task = progress.add_task(f"  batches {epoch}", total=n_windows)
            for xb, yb, rows in batches(win_feats, win_lab):
                if args.mixup > 0:  # Zhang et al. 2018; across sets, Yan et al. 2020
                    lam = float(rng.beta(args.mixup, args.mixup))
                    pair = torch.from_numpy(rng.permutation(len(yb)))
                    xb, yb = lam * xb + (1 - lam) * xb[pair], lam * yb + (1 - lam) * yb[pair]
                opt.zero_grad()
                emb = net.embed(xb)
                loss = loss_fn(net.classify(emb), yb)
                if args.adversary_weight > 0:
                    loss = loss + set_loss(adversary(emb), torch.from_numpy(win_set[rows]))
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                progress.update(batch_task, advance=len(yb))
            progress.remove_task(batch_task)
            sched.step()
            if averaged is not None and epoch >= args.average_from:
                averaged.update_parameters(net)
            val_scores = record_scores(net, cache, val_idx)
            if args.save_epoch_scores:
                test_now = record_scores(net, cache, test_idx) if test_idx else []
                epoch_scores[epoch] = {
                    records[i].name: round(float(x), 6)
                    for idx, part in ((val_idx, val_scores), (test_idx, test_now))
                    for i, x in zip(idx, part, strict=True)
                }
            # Early stopping and the threshold follow the MEAN OVER SETS of validation
            # MAcc: a pooled figure would be carried by training-e alone.
            thr, macc = best_macro_threshold(val_labels, val_scores, val_sets)
            auc = binary_metrics(val_labels, val_scores, thr)["auc"]
            history.append(
                {
                    "epoch": epoch,
                    "loss": total / n_windows,
                    "val_macro_macc": macc,
                    "val_auc": auc,
                    "val_threshold": thr,
                }
            )
            improved = macc > best["macc"] + 1e-9 or (
                abs(macc - best["macc"]) <= 1e-9 and auc > best["auc"]
            )
            if improved:
                best = {
                    "macc": macc,
                    "auc": auc,
                    "epoch": epoch,
                    "state": {k: v.clone() for k, v in net.state_dict().items()},
                }
            progress.update(
                task,
                advance=1,
                description=(
                    f"epoch {epoch} loss {total / n_windows:.3f} val macro MAcc {macc:.3f} "
                    f"AUC {auc:.3f} (best {best['macc']:.3f} @ {best['epoch']})"
                ),
            )
            progress.console.print(
                f"epoch {epoch:2d} loss {total / n_windows:.4f} val macro macc {macc:.4f} "
                f"auc {auc:.4f} thr {thr:.3f}"
            )
            if averaged is None and epoch - best["epoch"] >= args.patience:
                break

    if averaged is None:
        net.load_state_dict(best["state"])
    else:
        # The averaged weights need batch-norm statistics of their own: one more epoch
        # of training windows, in training mode (augmented and mixed as in training).
        net.load_state_dict(averaged.module.state_dict())
        win_feats, win_lab, _ = training_epoch()
        torch.optim.swa_utils.update_bn((xb for xb, _, _ in batches(win_feats, win_lab)), net)
    val_scores = record_scores(net, cache, val_idx)
    # chosen on VALIDATION only
    threshold, _ = best_macro_threshold(val_labels, val_scores, val_sets)
    test_scores = record_scores(net, cache, test_idx) if test_idx else np.zeros(0)
    test_sets = [records[i].set_name for i in test_idx]
    test_labels = [records[i].label for i in test_idx]
    report: dict[str, Any] = {
        "seed": args.seed,
        "split_seed": split_seed,
        "holdout_sets": args.holdout_set,
        "extra_sets": {name: str(folder) for name, folder in extra_sets.items()},
        "params": n_params,
        "best_epoch": best["epoch"],
        "averaged_epochs": [args.average_from, len(history)] if averaged is not None else None,
        "epochs_run": len(history),
        "train_seconds": round(time.time() - start, 1),
        "threshold": threshold,
        "counts": {p: len(v) for p, v in parts.items()},
        "features": params.to_dict(),
        "arch": args.arch,
        "argv": argv,
        "validation": _per_set(records, val_idx, val_scores, threshold),
        "validation_macro_macc": macro_macc(val_labels, val_scores, val_sets, threshold),
        "test": _per_set(records, test_idx, test_scores, threshold) if test_idx else {},
        "test_macro_macc": macro_macc(test_labels, test_scores, test_sets, threshold)
        if test_idx
        else None,
        "history": history,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": net.state_dict(),
            "arch": args.arch,
            "widths": net.widths,
            "in_channels": net.in_channels,
        },
        args.out / "checkpoint.pt",
    )
    (args.out / "split.json").write_text(json.dumps(split, indent=0, sort_keys=True))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    # per-recording scores, for fusing with other scores under the same split (docs/model.md)
    scores = {
        records[i].name: float(score)
        for idx, part_scores in ((val_idx, val_scores), (test_idx, test_scores))
        for i, score in zip(idx, part_scores, strict=True)
    }
    (args.out / "scores.json").write_text(json.dumps(scores, indent=0, sort_keys=True))
    if args.save_epoch_scores:
        (args.out / "epoch_scores.json").write_text(json.dumps(epoch_scores))
    for part in ("validation", "test"):
        for key, m in report[part].items():
            print(
                f"{part:10s} {key:8s} n={m['n']:4d} sens {m['sensitivity']:.3f} "
                f"spec {m['specificity']:.3f} macc {m['macc']:.3f} auc {m['auc']:.3f}"
            )
    if args.save_metrics:
        summary = {k: v for k, v in report.items() if k != "history"}
        summary["argv"] = ["hrmon", "train", *argv]
        merge_metrics(Path(__file__).parent / "metrics.json", args.save_metrics, summary)
    print(
        f"threshold (max validation macro MAcc): {threshold:.4f}; "
        f"test macro MAcc {report['test_macro_macc']}; wrote {args.out}"
    )
    return 0
