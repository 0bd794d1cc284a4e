"""Lay out the PASCAL Classifying Heart Sounds Challenge 2011 data as PhysioNet folders.

The challenge's two sets (Bentley, Nordehn, Coimbra, Mannor, "The PASCAL Classifying
Heart Sounds Challenge 2011 (CHSC2011) Results",
http://www.peterjbentley.com/heartchallenge/index.html): set A, recorded by the general
public with the iStethoscope Pro iPhone app (44.1 kHz, up to 9 s); set B, from a clinical
trial in Brazilian hospitals with the DigiScope digital stethoscope (4 kHz, 1-28 s).
Two recorders, a phone among them, that PhysioNet/CinC 2016 does not have: our third
external check of "a new stethoscope".

Source: the Kaggle copy "Heartbeat Sounds" (kinguistics), licensed there CC0 (public
domain) with a request to cite the paper above; the files were taken from
github.com/PaulWU1996/HeartSoundClassification (``data/``, commit ba74072e), byte-for-byte
the same WAVs as github.com/Wadahupy/Heartbeat-Sounds-Dataset. None of it is shipped, and
the shipped model is not trained on it.

``python -m evaluation.pascal_layout SRC DST``: SRC holds the WAVs at any depth, named as
in the Kaggle copy (the label is the name's first word: ``normal__103_1305031931979_B.wav``,
``murmur_noisymurmur_135_1306428972976_A.wav``, ``murmur__201108222238.wav``). DST
receives ``pascal_a/`` and ``pascal_b/``, each with ``REFERENCE.csv`` (normal -> -1,
murmur -> 1, noisy ones included), ``SUBJECTS.csv`` (set B: the name's leading number, so
one person's recordings stay together; set A: one recording, one subject) and a symbolic
link per recording. Left out of REFERENCE.csv, and why: ``extrahls`` and ``extrastole``
(an extra sound or beat is not a murmur and is often benign: counted by ``CLASSES.csv``,
which lists every labelled recording with its class), ``artifact`` (no heart sound) and
the unlabelled test files.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCORED = {"normal": -1, "murmur": 1}
CLASSES = ("normal", "murmur", "extrahls", "extrastole", "artifact")
SET_A_NAME = re.compile(r"^(?P<label>[a-z]+)__(?P<stamp>\d+)$")
SET_B_NAME = re.compile(r"^(?P<label>[a-z]+)_(?P<noisy>noisy[a-z]+)?_(?P<subject>\d+)_\d+_\w+$")


@dataclass
class SetLayout:
    """One set as written: scored recordings per label, and the other classes' counts."""

    normal: int = 0
    murmur: int = 0
    others: dict[str, int] = field(default_factory=dict)
    subjects: set[str] = field(default_factory=set)


def _parse(stem: str) -> tuple[str, str, str, bool] | None:
    """(set, class, subject, noisy) of a labelled recording's name; None if unlabelled."""
    if "unlabelledtest" in stem:
        return None
    if match := SET_A_NAME.match(stem):
        return "a", match["label"], f"a{match['stamp']}", False
    if match := SET_B_NAME.match(stem):
        return "b", match["label"], f"b{match['subject']}", match["noisy"] is not None
    raise ValueError(f"{stem}.wav: not a PASCAL 2011 recording name")


def write_layout(src: Path, dst: Path) -> dict[str, SetLayout]:
    """Write ``dst/pascal_a/`` and ``dst/pascal_b/``.

    Raises:
        ValueError: no WAVs under ``src``, an unknown class or name, or one name twice.
    """
    files = sorted(src.rglob("*.wav"))
    if not files:
        raise ValueError(f"no WAV files under {src}")
    seen: dict[str, Path] = {}
    rows: dict[str, dict[str, list[str]]] = {
        s: {"reference": [], "subjects": [], "classes": []} for s in "ab"
    }
    layouts = {s: SetLayout() for s in "ab"}
    for path in files:
        if path.stem in seen:
            raise ValueError(f"{path.stem}.wav appears twice: {seen[path.stem]} and {path}")
        seen[path.stem] = path
        parsed = _parse(path.stem)
        if parsed is None:
            continue
        which, label, subject, noisy = parsed
        if label not in CLASSES:
            raise ValueError(f"{path.name}: unknown class {label!r}")
        rows[which]["classes"].append(f"{path.stem},{label},{int(noisy)}\n")
        layout = layouts[which]
        if label not in SCORED:
            layout.others[label] = layout.others.get(label, 0) + 1
            continue
        folder = dst / f"pascal_{which}"
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
        rows[which]["reference"].append(f"{path.stem},{SCORED[label]}\n")
        rows[which]["subjects"].append(f"{path.stem},{subject}\n")
        if label == "normal":
            layout.normal += 1
        else:
            layout.murmur += 1
        layout.subjects.add(subject)
    for which, tables in rows.items():
        folder = dst / f"pascal_{which}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, lines in (
            ("REFERENCE.csv", tables["reference"]),
            ("SUBJECTS.csv", tables["subjects"]),
            ("CLASSES.csv", tables["classes"]),
        ):
            (folder / name).write_text("".join(lines))
    return layouts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.pascal_layout",
        description="PASCAL 2011 heart sounds -> PhysioNet layout for hrmon eval model",
    )
    parser.add_argument("src", type=Path, help="the WAVs (set_a/, set_b/, any depth)")
    parser.add_argument("dst", type=Path, help="folder to write pascal_a/ and pascal_b/ into")
    args = parser.parse_args(argv)
    try:
        layouts = write_layout(args.src, args.dst)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for which, layout in layouts.items():
        others = ", ".join(f"{n} {label}" for label, n in sorted(layout.others.items()))
        print(
            f"wrote {args.dst / f'pascal_{which}'}: {layout.normal} normal and "
            f"{layout.murmur} murmur recordings of {len(layout.subjects)} subjects; "
            f"not scored: {others}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
