"""External sets laid out for ``hrmon eval model``. BMD-HS: labels per patient, a
patient's recordings grouped, exact copies and unlabelled patients left out, the
repository's one misnamed file found. PASCAL 2011: labels from the names, normal against
murmur scored, the other classes listed only, set B's subjects grouped."""

from __future__ import annotations

import shutil
from pathlib import Path

from device import SAMPLES_DIR
from evaluation import pascal_layout
from evaluation.bmdhs_layout import main, write_layout
from model.data import index_extra_set

HEADER = "patient_id,AS,AR,MR,MS,N," + ",".join(f"recording_{k}" for k in range(1, 9))


def _repository(root: Path) -> None:
    """A small copy of the repository's shape, made of real shipped recordings."""
    (root / "train").mkdir(parents=True)
    sites = [f"{pos}_{site}" for pos in ("sup", "sit") for site in ("Mit", "Tri", "Pul", "Aor")]
    rows = [HEADER]
    patients = (("001", "MR", "0,0,1,0", 0), ("002", "N", "0,0,0,0", 1))
    for patient, prefix, disease, normal in patients:
        names = [f"{prefix}_{patient}_{s}" for s in sites]
        rows.append(f"patient_{patient},{disease},{normal}," + ",".join(names))
        for k, name in enumerate(names):
            source = ("a0386", "a0018")[k % 2]  # two distinct sounds per patient
            shutil.copy(SAMPLES_DIR / f"{source}.wav", root / "train" / f"{name}.wav")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    # the repository's misnamed file, and a patient nobody labelled
    misnamed = root / "train" / "N_002_sit_Aor.wav"
    misnamed.rename(root / "train" / "N_002_sit_Aor6_06.wav")
    shutil.copy(SAMPLES_DIR / "a0161.wav", root / "train" / "MD_022_sup_Mit.wav")


def test_bmdhs_layout_groups_patients_and_leaves_out_copies(tmp_path: Path, monkeypatch) -> None:
    import evaluation.bmdhs_layout as layout_module

    monkeypatch.setattr(layout_module, "KNOWN_RENAMES", {"N_002_sit_Aor6_06": "N_002_sit_Aor"})
    _repository(tmp_path / "src")
    layout = write_layout(tmp_path / "src", tmp_path / "dst")
    # each patient's 8 files are two distinct sounds: 6 of 8 are exact copies
    assert (layout.abnormal, layout.normal, layout.patients) == (2, 2, 2)
    assert len(layout.duplicates) == 12
    assert layout.unlisted == ["MD_022_sup_Mit"]
    records = index_extra_set("bmdhs", tmp_path / "dst" / "bmdhs")
    assert {(r.name, r.label, r.subject) for r in records} == {
        ("MR_001_sup_Mit", 1, "bmdhs:patient_001"),
        ("MR_001_sup_Tri", 1, "bmdhs:patient_001"),
        ("N_002_sup_Mit", 0, "bmdhs:patient_002"),
        ("N_002_sup_Tri", 0, "bmdhs:patient_002"),
    }


def test_bmdhs_layout_names_a_listed_recording_without_its_file(tmp_path: Path, capsys) -> None:
    _repository(tmp_path / "src")
    (tmp_path / "src" / "train" / "MR_001_sit_Pul.wav").unlink()
    assert main([str(tmp_path / "src"), str(tmp_path / "dst")]) == 2
    assert "MR_001_sit_Pul is listed in train.csv but has no WAV file" in capsys.readouterr().err


PASCAL_NAMES = (
    "set_a/normal__201101070538", "set_a/murmur__201108222238", "set_a/artifact__201012172012",
    "set_a/extrahls__201101160808", "set_a/Aunlabelledtest__201012172010",
    "set_b/normal__103_1305031931979_B", "set_b/normal_noisynormal_103_1305031931979_D",
    "set_b/murmur_noisymurmur_135_1306428972976_A", "set_b/extrastole__127_1306764300147_C2",
    "set_b/Bunlabelledtest__101_1305030823364_A",
)  # fmt: skip


def test_pascal_layout_scores_normal_against_murmur_and_lists_the_rest(tmp_path: Path) -> None:
    for k, name in enumerate(PASCAL_NAMES):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(
            SAMPLES_DIR / f"{('a0386', 'a0018')[k % 2]}.wav", tmp_path / "src" / f"{name}.wav"
        )
    layouts = pascal_layout.write_layout(tmp_path / "src", tmp_path / "dst")
    assert (layouts["a"].normal, layouts["a"].murmur) == (1, 1)
    assert layouts["a"].others == {"artifact": 1, "extrahls": 1}
    assert (layouts["b"].normal, layouts["b"].murmur) == (2, 1)  # noisy ones count
    assert layouts["b"].others == {"extrastole": 1}
    records = index_extra_set("pascal_b", tmp_path / "dst" / "pascal_b")
    assert {(r.name, r.label, r.subject) for r in records} == {
        ("normal__103_1305031931979_B", 0, "pascal_b:b103"),
        ("normal_noisynormal_103_1305031931979_D", 0, "pascal_b:b103"),  # one person
        ("murmur_noisymurmur_135_1306428972976_A", 1, "pascal_b:b135"),
    }
    classes = (tmp_path / "dst" / "pascal_a" / "CLASSES.csv").read_text().split()
    assert sorted(classes) == [
        "artifact__201012172012,artifact,0", "extrahls__201101160808,extrahls,0",
        "murmur__201108222238,murmur,0", "normal__201101070538,normal,0",
    ]  # fmt: skip


def test_pascal_layout_names_a_file_it_cannot_read(tmp_path: Path, capsys) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(SAMPLES_DIR / "a0386.wav", tmp_path / "src" / "heart.wav")
    assert pascal_layout.main([str(tmp_path / "src"), str(tmp_path / "dst")]) == 2
    assert "heart.wav: not a PASCAL 2011 recording name" in capsys.readouterr().err
