"""Lay out the BUET Multi-disease Heart Sound set (BMD-HS) as a PhysioNet folder.

The set (Ali et al., "BUET Multi-disease Heart Sound Dataset: A Comprehensive
Auscultation Dataset for Developing Computer-Aided Diagnostic Systems", arXiv:2409.00724,
2024) was recorded at the National Institute of Cardiovascular Disease, Dhaka: 108
patients, 8 recordings each (supine and sitting, at the mitral, tricuspid, pulmonic and
aortic sites), 4 kHz mono WAV of 20 s, with echocardiography-confirmed labels per patient
(aortic stenosis, aortic regurgitation, mitral regurgitation, mitral stenosis, or none).
Another stethoscope, another population and another hospital than PhysioNet/CinC 2016:
our second external check of "a new stethoscope", and an extra set ``hrmon train
--extra-set`` can use for experiments.

Source: https://github.com/sani002/BMD-HS-Dataset (a co-author's copy; the paper names
mHealthBuet/BMD-HS-Dataset). The repository states no licence; its README asks that the
paper be cited. We evaluate and experiment on it, ship none of it, and the shipped model
is not trained on it.

``python -m evaluation.bmdhs_layout SRC DST``: SRC is the repository's files
(``train.csv`` and the WAVs at any depth), DST receives ``bmdhs/REFERENCE.csv``
(a patient with ``N`` = 1 -> -1 normal, any valve disease -> 1 abnormal),
``bmdhs/SUBJECTS.csv`` (recording -> patient, so a patient's eight recordings stay
together in a split) and a symbolic link per recording. What it leaves out, and why:

* recordings of patients absent from ``train.csv`` (patient 022's eight files: no label);
* a byte-identical copy of another recording of the same patient (five such pairs:
  the same sound under two site names), keeping the first in ``train.csv``'s order;
* nothing else; one file is misnamed in the repository (``MD_085_sit_Tri6_06.wav`` for
  ``MD_085_sit_Tri``) and is found under its listed name by :data:`KNOWN_RENAMES`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

KNOWN_RENAMES = {"MD_085_sit_Tri6_06": "MD_085_sit_Tri"}
RECORDINGS_PER_PATIENT = 8


@dataclass(frozen=True)
class Layout:
    """What :func:`write_layout` wrote: recordings per label and what it left out."""

    normal: int
    abnormal: int
    patients: int
    duplicates: list[str]
    unlisted: list[str]


def _audio_files(src: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(src.rglob("*.wav")):
        name = KNOWN_RENAMES.get(path.stem, path.stem)
        if name in found:
            raise ValueError(f"record {name} appears twice: {found[name]} and {path}")
        found[name] = path
    return found


def write_layout(src: Path, dst: Path) -> Layout:
    """Write ``dst/bmdhs/`` (REFERENCE.csv, SUBJECTS.csv, one link per recording).

    Raises:
        ValueError: no ``train.csv`` under ``src``, a listed recording without its file,
            or two files of one name.
    """
    tables = sorted(src.rglob("train.csv"))
    if not tables:
        raise ValueError(f"no train.csv under {src}")
    audio = _audio_files(src)
    folder = dst / "bmdhs"
    folder.mkdir(parents=True, exist_ok=True)
    reference, subjects, listed, duplicates = [], [], set(), []
    counts = {1: 0, -1: 0}
    with tables[0].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        patient = row["patient_id"].strip()
        label = -1 if row["N"].strip() == "1" else 1
        seen: set[str] = set()
        for k in range(1, RECORDINGS_PER_PATIENT + 1):
            name = row[f"recording_{k}"].strip()
            if not name:
                continue
            if name not in audio:
                raise ValueError(f"{name} is listed in train.csv but has no WAV file")
            listed.add(name)
            digest = hashlib.sha256(audio[name].read_bytes()).hexdigest()
            if digest in seen:
                duplicates.append(name)
                continue
            seen.add(digest)
            link = folder / f"{name}.wav"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(audio[name].resolve())
            reference.append(f"{name},{label}\n")
            subjects.append(f"{name},{patient}\n")
            counts[label] += 1
    (folder / "REFERENCE.csv").write_text("".join(reference))
    (folder / "SUBJECTS.csv").write_text("".join(subjects))
    return Layout(
        normal=counts[-1],
        abnormal=counts[1],
        patients=len(rows),
        duplicates=duplicates,
        unlisted=sorted(set(audio) - listed),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.bmdhs_layout",
        description="BMD-HS heart sounds -> PhysioNet layout for hrmon eval model",
    )
    parser.add_argument("src", type=Path, help="the repository's files (train.csv, WAVs)")
    parser.add_argument("dst", type=Path, help="folder to write bmdhs/ into")
    args = parser.parse_args(argv)
    try:
        layout = write_layout(args.src, args.dst)
    except (ValueError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.dst / 'bmdhs'}: {layout.normal + layout.abnormal} recordings of "
        f"{layout.patients} patients ({layout.abnormal} abnormal, {layout.normal} normal); "
        f"left out {len(layout.duplicates)} duplicates ({', '.join(layout.duplicates)}) and "
        f"{len(layout.unlisted)} unlisted ({', '.join(layout.unlisted[:8])})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
