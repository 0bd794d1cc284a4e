"""Lay out the Yaseen 2018 heart-sound set as a PhysioNet folder for ``hrmon eval model``.

The set (Yaseen, Son and Kwon, "Classification of heart sound signal using multiple
features", Applied Sciences 8(12):2344, 2018) is 8 kHz mono WAV, 1.2-4 s each (three
cardiac cycles), in five classes of 200: normal (``N``) and four valve diseases (aortic
stenosis ``AS``, mitral regurgitation ``MR``, mitral stenosis ``MS``, mitral valve
prolapse ``MVP``). It comes from another source than PhysioNet/CinC 2016 - other
stethoscopes, another population - so it is our external check of "a new stethoscope".
The model is never trained, tuned or thresholded on it.

Source: https://github.com/yaseen21khan/Classification-of-Heart-Sound-Signal-Using-Multiple-Features-
(one RAR per class; the ``AS`` archive is absent from the repository's stored history, so
four classes, 800 recordings). The repository states no licence; the paper publishes the
data for research. We only evaluate on it and ship none of it.

``python -m evaluation.yaseen_layout SRC DST``: SRC is the folder where the RARs were
unpacked (any depth; files are named ``New_<CLASS>_<nnn>.wav``), DST receives
``yaseen/REFERENCE.csv`` (``N`` -> -1 normal, every other class -> 1 abnormal) and a
symbolic link per recording. Then ``hrmon eval model DST``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

NAME = re.compile(r"^New_(?P<cls>N|AS|MR|MS|MVP)_(?P<num>\d+)$")
NORMAL_CLASS = "N"


def recordings(src: Path) -> list[tuple[str, str, Path]]:
    """``(record name, class, path)`` of every recognised WAV under ``src``, sorted by name.

    Raises:
        ValueError: two files carry the same record name.
    """
    found: dict[str, tuple[str, str, Path]] = {}
    for path in sorted(src.rglob("*.wav")):
        match = NAME.match(path.stem)
        if match is None:
            continue
        if path.stem in found:
            raise ValueError(f"record {path.stem} appears twice: {found[path.stem][2]} and {path}")
        found[path.stem] = (path.stem, match["cls"], path)
    return [found[name] for name in sorted(found)]


def write_layout(src: Path, dst: Path) -> dict[str, int]:
    """Write ``dst/yaseen/REFERENCE.csv`` and one link per recording.

    Returns:
        Recordings per class.

    Raises:
        ValueError: no recognised recording under ``src``, or a duplicate name.
    """
    rows = recordings(src)
    if not rows:
        raise ValueError(f"no New_<CLASS>_<nnn>.wav file under {src}")
    folder = dst / "yaseen"
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    lines = []
    for name, cls, path in rows:
        link = folder / f"{name}.wav"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
        lines.append(f"{name},{-1 if cls == NORMAL_CLASS else 1}\n")
        counts[cls] = counts.get(cls, 0) + 1
    (folder / "REFERENCE.csv").write_text("".join(lines))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.yaseen_layout",
        description="Yaseen 2018 heart sounds -> PhysioNet layout for hrmon eval model",
    )
    parser.add_argument("src", type=Path, help="folder holding the unpacked RARs")
    parser.add_argument("dst", type=Path, help="folder to write yaseen/ into")
    args = parser.parse_args(argv)
    try:
        counts = write_layout(args.src, args.dst)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{cls} {n}" for cls, n in sorted(counts.items()))
    print(f"wrote {args.dst / 'yaseen'}: {sum(counts.values())} recordings ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
