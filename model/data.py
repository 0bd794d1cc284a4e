"""PhysioNet 2016 indexing, the subject-wise split, and the on-disk feature cache.

Subjects (the unit of the split; never a recording or a window):

* training-a: the ``C\\d+`` prefix of the original record name (``C45S1`` -> ``C45``);
* training-b: the appendix's ``Subject ID`` column;
* training-d: the original name without a trailing repeat number (``C014PRAU2`` and
  ``C014PRAU`` are one subject) - an assumption, the appendix gives no ids;
* training-e: the appendix's ``# Raw record`` column: the 1748 listed recordings are cut
  from 273 raw recordings (about 6 each), so one raw record is at least one person.
  The appendix does not link a person's "rest" and "after step climbing" raw records,
  so one person may still fall on both sides: set e's figures stay somewhat optimistic.
  The 72 recordings absent from the appendix are one subject each;
* training-c, -f (and records missing from the appendix): one record = one subject,
  an assumption, since the appendix gives no subject ids there;
* an extra set (``--extra-set NAME=DIR``, another stethoscope's recordings in the same
  layout): its ``SUBJECTS.csv`` (``NAME,SUBJECT``), else one record = one subject.

numpy only (plus soundfile for reading the training FLACs); no torch here.

About 410 lines: dataset indexing (PhysioNet and extra sets), subject grouping, splits
and the feature cache: the data contract of training and evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from signals.features import FeatureParams, recording_windows

SETS: tuple[str, ...] = ("a", "b", "c", "d", "e", "f")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_CACHE_DIR = REPO_ROOT / "model" / "cache"
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac")


@dataclass(frozen=True)
class Record:
    """One recording of the challenge data.

    Attributes:
        set_name: ``a`` to ``f``, or an extra set's name.
        name: challenge record name, e.g. ``a0001``.
        label: 1 abnormal, 0 normal.
        subject: subject key, unique across sets (``a:C45``).
        path: the audio file.
    """

    set_name: str
    name: str
    label: int
    subject: str
    path: Path


def read_reference(directory: Path) -> list[tuple[str, int]]:
    """Read ``REFERENCE.csv`` (``NAME,1|-1``) of a PhysioNet-layout directory.

    Args:
        directory: folder holding ``REFERENCE.csv``.

    Returns:
        ``(name, label)`` pairs with label 1 abnormal, 0 normal, in file order.

    Raises:
        FileNotFoundError: if ``REFERENCE.csv`` is missing.
        ValueError: on a label other than 1/-1.
    """
    rows: list[tuple[str, int]] = []
    with (directory / "REFERENCE.csv").open(newline="") as fh:
        for row in csv.reader(fh):
            if not row or not row[0].strip():
                continue
            name, raw = row[0].strip(), row[1].strip()
            if raw not in ("1", "-1"):
                raise ValueError(f"{directory}/REFERENCE.csv: label {raw!r} for {name}")
            rows.append((name, 1 if raw == "1" else 0))
    return rows


def find_audio(directory: Path, name: str) -> Path:
    """The audio file of record ``name`` in ``directory`` (``.wav`` preferred, then ``.flac``).

    Args:
        directory: PhysioNet-layout folder.
        name: record name.

    Returns:
        Path of the file.

    Raises:
        FileNotFoundError: if neither exists.
    """
    for suffix in AUDIO_SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no {name}.wav or {name}.flac in {directory}")


def _appendix_rows(data_dir: Path) -> list[dict[str, str]]:
    """The online appendix's rows (one per record), or none if the file is missing."""
    path = data_dir / "physionet2016" / "annotations" / "Online_Appendix_training_set.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="latin-1") as fh:
        return list(csv.DictReader(fh))


def _appendix(data_dir: Path) -> dict[str, tuple[str, str]]:
    """Record name -> (original record name, subject id) from the online appendix.

    The subject id is the ``Subject ID`` column (training-b) or, where that is empty, the
    ``# Raw record`` column (training-e) prefixed ``raw``.
    """
    out: dict[str, tuple[str, str]] = {}
    for row in _appendix_rows(data_dir):
        subject_id = row["Subject ID"].strip()
        raw_record = row.get("# Raw record", "").strip()
        if not subject_id and raw_record:
            subject_id = f"raw{raw_record}"
        out[row["Challenge record name"].strip()] = (
            row["Original record name"].strip(),
            subject_id,
        )
    return out


def diagnoses(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, str]:
    """Record name -> the appendix's ``Diagnosis`` (``MVP``, ``CAD``, ``Normal``, ...).

    Empty if the appendix is missing. Records of an extra set have none.
    """
    return {
        row["Challenge record name"].strip(): row["Diagnosis"].strip()
        for row in _appendix_rows(data_dir)
    }


def quality_labels(data_dir: Path) -> dict[str, int]:
    """Record name -> 1 if PhysioNet marks it too poor to classify, else 0.

    Raises:
        FileNotFoundError: no ``REFERENCE_withSQI.csv`` under ``data_dir``.
    """
    tables = sorted((data_dir / "physionet2016").glob("training-*/REFERENCE_withSQI.csv"))
    if not tables:
        raise FileNotFoundError(f"no training-*/REFERENCE_withSQI.csv under {data_dir}")
    poor: dict[str, int] = {}
    for table in tables:
        with table.open(newline="") as fh:
            poor |= {row[0]: 1 - int(row[2]) for row in csv.reader(fh) if row}
    return poor


def subject_of(set_name: str, name: str, original: str, subject_id: str) -> str:
    """Subject key of a record (see the module docstring for the rules).

    Args:
        set_name: ``a`` to ``f``.
        name: challenge record name.
        original: original record name from the appendix ('' if unknown).
        subject_id: appendix subject id ('' if unknown).

    Returns:
        A key unique across sets, e.g. ``a:C45``.
    """
    if set_name == "a" and (m := re.match(r"(C\d+)", original)):
        return f"a:{m.group(1)}"
    if set_name == "b" and subject_id:
        return f"b:{subject_id}"
    if set_name == "e" and subject_id:
        return f"e:{subject_id}"
    if set_name == "d" and original:
        stem = original if original.isdigit() else re.sub(r"\d+$", "", original)
        return f"d:{stem}"
    return f"{set_name}:{name}"


def index_dataset(data_dir: Path = DEFAULT_DATA_DIR, sets: tuple[str, ...] = SETS) -> list[Record]:
    """All records of the chosen sets with labels and subjects.

    Args:
        data_dir: the shared data folder (holding ``physionet2016/``).
        sets: which training sets.

    Returns:
        Records sorted by set then name.

    Raises:
        FileNotFoundError: if a set folder or an audio file is missing.
    """
    appendix = _appendix(data_dir)
    records: list[Record] = []
    for set_name in sets:
        folder = data_dir / "physionet2016" / f"training-{set_name}"
        for name, label in read_reference(folder):
            original, subject_id = appendix.get(name, ("", ""))
            records.append(
                Record(
                    set_name=set_name,
                    name=name,
                    label=label,
                    subject=subject_of(set_name, name, original, subject_id),
                    path=find_audio(folder, name),
                )
            )
    return sorted(records, key=lambda r: (r.set_name, r.name))


EXTRA_SET_NAME = re.compile(r"[a-z][a-z0-9_]{1,31}")


def parse_extra_sets(items: list[str]) -> dict[str, Path]:
    """``NAME=DIR`` options -> {name: folder}.

    Raises:
        SystemExit: a name that is not lower-case letters, digits and ``_`` (2-32
            characters), that names a PhysioNet set, or is given twice.
    """
    out: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not EXTRA_SET_NAME.fullmatch(name) or name in SETS or name in out:
            raise SystemExit(
                f"--extra-set {item!r}: want NAME=DIR with a new lower-case NAME "
                "(2-32 letters, digits or _)"
            )
        out[name] = Path(folder)
    return out


def index_extra_set(name: str, folder: Path) -> list[Record]:
    """Records of a labelled heart-sound set from another source, in the PhysioNet layout.

    ``REFERENCE.csv`` (``NAME,1|-1``) and the audio (``NAME.wav`` or ``.flac``, any rate:
    :func:`read_training_audio` resamples) in ``folder``; ``SUBJECTS.csv``
    (``NAME,SUBJECT``) groups recordings of one person, else each is its own subject.

    Args:
        name: the set's name (its key in reports, e.g. ``bmdhs``).
        folder: where its files are.

    Returns:
        Records sorted by name.

    Raises:
        FileNotFoundError: if ``REFERENCE.csv`` or an audio file is missing.
    """
    subjects: dict[str, str] = {}
    subjects_file = folder / "SUBJECTS.csv"
    if subjects_file.is_file():
        with subjects_file.open(newline="") as fh:
            subjects = {row[0].strip(): row[1].strip() for row in csv.reader(fh) if row}
    records = [
        Record(
            set_name=name,
            name=record,
            label=label,
            subject=f"{name}:{subjects.get(record, record)}",
            path=find_audio(folder, record),
        )
        for record, label in read_reference(folder)
    ]
    return sorted(records, key=lambda r: r.name)


def index_records(data_dir: Path, extra_sets: dict[str, Path]) -> list[Record]:
    """PhysioNet 2016's six sets, then each extra set (see :func:`index_extra_set`).

    Raises:
        SystemExit: if a record name occurs twice (names key the splits and caches).
    """
    records = index_dataset(data_dir)
    for name, folder in extra_sets.items():
        records += index_extra_set(name, folder)
    names = [r.name for r in records]
    if len(set(names)) != len(names):  # splits, caches and scores are keyed by name
        clash = sorted({n for n in names if names.count(n) > 1})[:3]
        raise SystemExit(f"--extra-set: record names also used elsewhere: {', '.join(clash)}")
    return records


def split_by_subject(
    records: list[Record],
    *,
    seed: int,
    test_fraction: float = 0.2,
    val_fraction: float = 0.15,
    holdout_sets: tuple[str, ...] = (),
) -> dict[str, str]:
    """Assign each record to ``train``, ``val`` or ``test``, whole subjects at a time.

    Subjects are stratified by (set, subject label), where a subject is abnormal if any
    of its recordings is; within each stratum subjects are shuffled with ``seed`` and the
    first ``round(test_fraction * n)`` go to test, the next ``round(val_fraction * n)``
    to validation. Records of ``holdout_sets`` all go to test (leave-one-set-out).

    Args:
        records: from :func:`index_dataset`.
        seed: RNG seed (the split is a pure function of records and seed).
        test_fraction: share of subjects per stratum for the held-out test part.
        val_fraction: share for validation (early stopping, threshold).
        holdout_sets: sets used only for testing.

    Returns:
        Record name -> part.
    """
    by_subject: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        by_subject[rec.subject].append(rec)
    strata: dict[tuple[str, int], list[str]] = defaultdict(list)
    for subject, recs in sorted(by_subject.items()):
        strata[(recs[0].set_name, max(r.label for r in recs))].append(subject)
    rng = np.random.default_rng(seed)
    part_of_subject: dict[str, str] = {}
    for (set_name, _label), subjects in sorted(strata.items()):
        if set_name in holdout_sets:
            part_of_subject.update(dict.fromkeys(subjects, "test"))
            continue
        order = [subjects[i] for i in rng.permutation(len(subjects))]
        n_test = round(test_fraction * len(order))
        n_val = round(val_fraction * len(order))
        for i, subject in enumerate(order):
            part_of_subject[subject] = (
                "test" if i < n_test else "val" if i < n_test + n_val else "train"
            )
    return {rec.name: part_of_subject[rec.subject] for rec in records}


def read_training_audio(path: Path) -> npt.NDArray[np.float32]:
    """Read a training recording as float32 mono at 2 kHz.

    The device reads through ``signals.audio.load_audio``; the challenge FLACs are already
    2 kHz mono 16-bit, so both yield the same samples (scaled to [-1, 1]). Recordings of
    extra sets at other rates go through the device's own resampler.

    Args:
        path: FLAC or WAV file.

    Returns:
        Samples at :data:`signals.audio.WORKING_RATE`.
    """
    import soundfile as sf  # local: only training reads files this way

    from signals.audio import WORKING_RATE, resample

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
    return resample(mono, int(rate), WORKING_RATE)


@dataclass
class FeatureCache:
    """Window features of a list of records, loaded from / saved to one ``.npz``.

    Attributes:
        names: record names, one per record.
        offsets: ``offsets[i]:offsets[i+1]`` are record ``i``'s windows in ``features``.
        features: float16 ``(n_windows, n_mels, n_frames)``.
    """

    names: list[str]
    offsets: npt.NDArray[np.int64]
    features: npt.NDArray[np.float16]

    def windows_of(self, index: int) -> npt.NDArray[np.float16]:
        """Windows of record ``index``."""
        return self.features[self.offsets[index] : self.offsets[index + 1]]


def _cache_key(records: list[Record], params: FeatureParams) -> str:
    blob = json.dumps([params.to_dict(), [r.name for r in records]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_features(
    records: list[Record],
    params: FeatureParams,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    *,
    progress: bool = True,
) -> FeatureCache:
    """Features of every window of every record, computed once and cached on disk.

    Args:
        records: records to featurise (the cache file is keyed by their names and
            the feature parameters).
        params: front-end parameters.
        cache_dir: where ``features-<key>.npz`` is kept.
        progress: show a rich progress bar while computing.

    Returns:
        The cache.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"features-{_cache_key(records, params)}.npz"
    if path.is_file():
        with np.load(path) as npz:
            return FeatureCache(
                names=[str(n) for n in npz["names"]],
                offsets=npz["offsets"].astype(np.int64),
                features=npz["features"],
            )
    from rich.progress import track

    chunks: list[npt.NDArray[np.float16]] = []
    offsets = [0]
    for rec in track(records, description="features", disable=not progress):
        feats = recording_windows(read_training_audio(rec.path), params)[:, 0]
        chunks.append(feats.astype(np.float16))
        offsets.append(offsets[-1] + feats.shape[0])
    cache = FeatureCache(
        names=[r.name for r in records],
        offsets=np.asarray(offsets, dtype=np.int64),
        features=np.concatenate(chunks),
    )
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, names=np.asarray(cache.names), offsets=cache.offsets, features=cache.features)
    tmp.replace(path)
    return cache
