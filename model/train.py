"""``hrmon train``: train the CNN on PhysioNet 2016 with a subject-wise split.

Needs the ``train`` extra (torch). Reproducible by ``--seed``: the split, the window
sampling, the initial weights and the augmentation all derive from it, and torch runs
with deterministic algorithms on CPU.

Writes into ``--out`` (default ``model/runs/main``, gitignored): ``checkpoint.pt``,
``split.json`` (record -> train/val/test), ``report.json`` (validation threshold,
per-set metrics of the torch model on the test part, parameter count, history).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.data import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    SETS,
    FeatureCache,
    Record,
    index_dataset,
    load_features,
    split_by_subject,
)
from model.evaluate import best_threshold, binary_metrics, merge_metrics
from model.features import DEFAULT_PARAMS, FeatureParams


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hrmon train", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="shared data folder holding physionet2016/ (default: ../shared/data)",
    )
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--out", type=Path, default=Path("model/runs/main"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=14, help="maximum epochs")
    p.add_argument("--patience", type=int, default=4, help="early-stopping patience (epochs)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument(
        "--windows-per-record",
        type=int,
        default=3,
        help="windows sampled per training recording per epoch (long recordings "
        "of training-e would dominate otherwise)",
    )
    p.add_argument(
        "--holdout-set",
        action="append",
        default=[],
        choices=SETS,
        help="leave this set out of train/val and test on all of it (repeatable)",
    )
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument(
        "--max-weight",
        type=float,
        default=5.0,
        help="cap on the per-(set, label) loss weight (tiny strata of c, d)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--save-metrics",
        metavar="KEY",
        default=None,
        help="also store the run's summary under KEY in model/metrics.json",
    )
    return p.parse_args(argv)


def _spec_augment(x: Any, rng: np.random.Generator) -> Any:
    """Zero one random band of mel bins and one of frames per example (SpecAugment)."""
    n, _, n_mels, n_frames = x.shape
    for i in range(n):
        if rng.random() < 0.5:
            f = int(rng.integers(1, 5))
            f0 = int(rng.integers(0, n_mels - f))
            x[i, :, f0 : f0 + f, :] = 0.0
        if rng.random() < 0.5:
            t = int(rng.integers(10, 60))
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


def _stratum_weights(train: list[Record], cap: float) -> dict[tuple[str, int], float]:
    """Loss weight per (set, label): balances the classes *within* each set.

    Sets differ in stethoscope and in abnormal share (training-e is 91 % normal); plain
    class weighting would let the CNN learn "sounds like set e, so normal". Weighting each
    (set, label) stratum to half of its set's mass removes that shortcut. Weights are
    normalised to mean 1 over the training recordings and capped for tiny strata.
    """
    n_set: dict[str, int] = defaultdict(int)
    n_stratum: dict[tuple[str, int], int] = defaultdict(int)
    for rec in train:
        n_set[rec.set_name] += 1
        n_stratum[(rec.set_name, rec.label)] += 1
    raw = {k: n_set[k[0]] / (2.0 * n) for k, n in n_stratum.items()}
    mean = sum(raw[(r.set_name, r.label)] for r in train) / len(train)
    return {k: min(v / mean, cap) for k, v in raw.items()}


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
    try:
        import torch
        from rich.progress import Progress
    except ImportError:
        print("hrmon train needs the train extra: pip install 'hrmon[train]'")
        return 2
    from model.net import HeartCNN, count_parameters

    _keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(args.seed)
    params: FeatureParams = DEFAULT_PARAMS

    records = index_dataset(args.data_dir)
    split = split_by_subject(
        records,
        seed=args.seed,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        holdout_sets=tuple(args.holdout_set),
    )
    cache = load_features(records, params, args.cache_dir, progress=not args.no_progress)
    parts: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        parts[split[rec.name]].append(i)
    train_idx, val_idx, test_idx = parts["train"], parts["val"], parts["test"]
    val_labels = np.array([records[i].label for i in val_idx])
    weight_of = _stratum_weights([records[i] for i in train_idx], cap=args.max_weight)

    net = HeartCNN()
    n_params = count_parameters(net)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    print(
        f"records train/val/test: {len(train_idx)}/{len(val_idx)}/{len(test_idx)}; "
        f"params {n_params}; weights per (set, label): "
        + ", ".join(f"{k[0]}{k[1]}={v:.2f}" for k, v in sorted(weight_of.items()))
    )

    best: dict[str, Any] = {"macc": -1.0, "auc": -1.0, "epoch": -1, "state": None}
    history: list[dict[str, float]] = []
    start = time.time()
    with Progress(disable=args.no_progress) as progress:
        task = progress.add_task("epoch 1", total=args.epochs)
        for epoch in range(1, args.epochs + 1):
            # Sample windows per recording so every recording counts about equally.
            chosen: list[int] = []
            labels: list[int] = []
            weights: list[float] = []
            for i in train_idx:
                a, b = int(cache.offsets[i]), int(cache.offsets[i + 1])
                k = min(args.windows_per_record, b - a)
                chosen.extend(int(w) for w in rng.choice(np.arange(a, b), size=k, replace=False))
                labels.extend([records[i].label] * k)
                weights.extend([weight_of[(records[i].set_name, records[i].label)]] * k)
            order = rng.permutation(len(chosen))
            win_idx = np.asarray(chosen)[order]
            win_lab = np.asarray(labels, dtype=np.float32)[order]
            win_w = np.asarray(weights, dtype=np.float32)[order]
            net.train()
            total = 0.0
            batch_task = progress.add_task(f"  batches {epoch}", total=len(win_idx))
            for s in range(0, len(win_idx), args.batch_size):
                xb = cache.features[win_idx[s : s + args.batch_size]].astype(np.float32)
                xb = _spec_augment(xb[:, None], rng)
                yb = torch.from_numpy(win_lab[s : s + args.batch_size])
                opt.zero_grad()
                wb = torch.from_numpy(win_w[s : s + args.batch_size])
                loss = (loss_fn(net(torch.from_numpy(xb)), yb) * wb).mean()
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                progress.update(batch_task, advance=len(yb))
            progress.remove_task(batch_task)
            sched.step()
            val_scores = record_scores(net, cache, val_idx)
            thr, macc = best_threshold(val_labels, val_scores)
            auc = binary_metrics(val_labels, val_scores, thr)["auc"]
            history.append(
                {
                    "epoch": epoch,
                    "loss": total / len(win_idx),
                    "val_macc": macc,
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
                    f"epoch {epoch} loss {total / len(win_idx):.3f} val MAcc {macc:.3f} "
                    f"AUC {auc:.3f} (best {best['macc']:.3f} @ {best['epoch']})"
                ),
            )
            progress.console.print(
                f"epoch {epoch:2d} loss {total / len(win_idx):.4f} val macc {macc:.4f} "
                f"auc {auc:.4f} thr {thr:.3f}"
            )
            if epoch - best["epoch"] >= args.patience:
                break

    net.load_state_dict(best["state"])
    val_scores = record_scores(net, cache, val_idx)
    threshold, _ = best_threshold(val_labels, val_scores)  # chosen on VALIDATION only
    report: dict[str, Any] = {
        "seed": args.seed,
        "holdout_sets": args.holdout_set,
        "params": n_params,
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "train_seconds": round(time.time() - start, 1),
        "threshold": threshold,
        "counts": {p: len(v) for p, v in parts.items()},
        "features": params.to_dict(),
        "argv": argv,
        "validation": _per_set(records, val_idx, val_scores, threshold),
        "test": _per_set(records, test_idx, record_scores(net, cache, test_idx), threshold)
        if test_idx
        else {},
        "history": history,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "widths": net.widths}, args.out / "checkpoint.pt")
    (args.out / "split.json").write_text(json.dumps(split, indent=0, sort_keys=True))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
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
    print(f"threshold (max validation MAcc): {threshold:.4f}; wrote {args.out}")
    return 0
