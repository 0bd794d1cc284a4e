"""The shared feature function and the subject-wise split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.data import Record, split_by_subject, subject_of
from signals.features import (
    DEFAULT_PARAMS,
    FeatureParams,
    _mel_basis,
    recording_windows,
    window_features,
    window_starts,
)

RATE = DEFAULT_PARAMS.sample_rate
WIN = DEFAULT_PARAMS.window_samples


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1


def test_window_shape_and_normalisation() -> None:
    f = window_features(_noise(WIN))
    assert f.shape == (DEFAULT_PARAMS.n_channels, DEFAULT_PARAMS.n_frames)
    assert f.dtype == np.float32
    assert abs(float(f.mean())) < 1e-4
    assert abs(float(f.std()) - 1.0) < 1e-3


def test_gain_does_not_change_features() -> None:
    x = _noise(WIN)
    np.testing.assert_allclose(window_features(x), window_features(7.0 * x), atol=1e-4)


def test_tone_lands_in_the_right_band() -> None:
    t = np.arange(WIN) / RATE
    low = window_features(np.sin(2 * np.pi * 60 * t) + 0.01 * _noise(WIN))
    high = window_features(np.sin(2 * np.pi * 300 * t) + 0.01 * _noise(WIN))
    assert int(low.mean(axis=1).argmax()) < int(high.mean(axis=1).argmax())


def test_every_mel_band_has_fft_bins() -> None:
    # librosa's defaults at 2 kHz leave empty bands; the chosen n_fft must not.
    assert np.all(_mel_basis(DEFAULT_PARAMS).sum(axis=1) > 0)


@pytest.mark.parametrize("bad", [np.zeros(WIN - 1), np.zeros((2, WIN))])
def test_wrong_window_shape_raises(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="window"):
        window_features(bad)


def test_non_finite_window_raises() -> None:
    x = _noise(WIN)
    x[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        window_features(x)


def test_window_starts_cover_the_tail() -> None:
    assert window_starts(WIN) == [0]
    assert window_starts(3 * RATE) == [0]
    starts = window_starts(int(12.2 * RATE))
    assert starts[:3] == [0, 5000, 10000]
    assert starts[-1] == int(12.2 * RATE) - WIN


def test_recording_windows_tiles_short_recordings() -> None:
    x = _noise(3 * RATE)
    feats = recording_windows(x)
    assert feats.shape == (1, 1, DEFAULT_PARAMS.n_channels, DEFAULT_PARAMS.n_frames)
    np.testing.assert_array_equal(feats[0, 0], window_features(np.resize(x, WIN)))


def test_recording_windows_match_window_features() -> None:
    x = _noise(int(11 * RATE), seed=3)
    feats = recording_windows(x)
    starts = window_starts(len(x))
    assert feats.shape[0] == len(starts)
    for k, s in enumerate(starts):
        np.testing.assert_array_equal(feats[k, 0], window_features(x[s : s + WIN]))


def test_params_json_round_trip() -> None:
    data = json.loads(json.dumps(DEFAULT_PARAMS.to_dict()))
    assert FeatureParams.from_dict(data) == DEFAULT_PARAMS


def test_subject_rules() -> None:
    assert subject_of("a", "a0001", "C45S1", "") == "a:C45"
    assert subject_of("b", "b0001", "S98f2_data", "98") == "b:98"
    assert subject_of("d", "d0010", "C014PRAU2", "") == subject_of("d", "d0004", "C014PRAU", "")
    # training-e: the appendix's raw record (several recordings cut from one person's)
    assert subject_of("e", "e00002", "e01430", "raw198") == "e:raw198"
    assert subject_of("e", "e01800", "", "") == "e:e01800"  # not in the appendix


@pytest.mark.data
def test_training_e_recordings_of_one_raw_record_are_one_subject(shared_data: Path) -> None:
    from model.data import index_dataset

    recs = [r for r in index_dataset(shared_data, ("e",))]
    subjects = {r.subject for r in recs}
    # 1748 appendix rows come from 273 raw records; 72 recordings are not in the appendix
    assert len(subjects) < len(recs) / 3
    split = split_by_subject(index_dataset(shared_data), seed=0)
    parts: dict[str, set[str]] = {}
    for r in recs:
        parts.setdefault(r.subject, set()).add(split[r.name])
    assert all(len(p) == 1 for p in parts.values())


def _records() -> list[Record]:
    rng = np.random.default_rng(1)
    recs = []
    for set_name in ("a", "e"):
        for subj in range(40):
            label = int(subj % 3 == 0)
            for k in range(int(rng.integers(1, 5))):
                name = f"{set_name}{subj:03d}_{k}"
                recs.append(Record(set_name, name, label, f"{set_name}:{subj}", Path(name)))
    return recs


def test_split_keeps_subjects_together_and_is_seeded() -> None:
    recs = _records()
    split = split_by_subject(recs, seed=5)
    parts_of: dict[str, set[str]] = {}
    for r in recs:
        parts_of.setdefault(r.subject, set()).add(split[r.name])
    assert all(len(p) == 1 for p in parts_of.values())
    assert set(split.values()) == {"train", "val", "test"}
    assert split == split_by_subject(recs, seed=5)
    assert split != split_by_subject(recs, seed=6)
    # stratified: both sets and both labels reach the test part
    test = {(r.set_name, r.label) for r in recs if split[r.name] == "test"}
    assert test == {("a", 0), ("a", 1), ("e", 0), ("e", 1)}


def test_holdout_set_goes_entirely_to_test() -> None:
    recs = _records()
    split = split_by_subject(recs, seed=0, holdout_sets=("a",))
    assert all(split[r.name] == "test" for r in recs if r.set_name == "a")
    assert {split[r.name] for r in recs if r.set_name == "e"} >= {"train", "val"}


def test_s1_reference_needs_states_and_falls_back_without_s1() -> None:
    params = FeatureParams(s1_reference=True)
    assert params.needs_states and params.n_channels == params.n_mels
    with pytest.raises(ValueError, match="heart-sound states"):
        window_features(_noise(WIN), params)
    no_s1 = np.full(params.n_frames, 1)  # all systole: each band's own mean instead
    by_band = window_features(_noise(WIN), FeatureParams(per_band=True))
    assert np.allclose(window_features(_noise(WIN), params, no_s1), by_band, atol=1e-5)


def test_an_extra_set_is_indexed_grouped_and_resampled(tmp_path: Path) -> None:
    """Another source's recordings in the PhysioNet layout: REFERENCE.csv, any rate,
    SUBJECTS.csv grouping a person's recordings (else one recording, one subject)."""
    import soundfile as sf

    from device import SAMPLES_DIR
    from model.data import index_extra_set, parse_extra_sets, read_training_audio
    from signals.audio import load_audio, resample

    x = load_audio(SAMPLES_DIR / "a0386.wav")
    at_4k = resample(x, RATE, 4000)
    for name in ("p1_mit", "p1_aor", "p2_mit"):
        sf.write(tmp_path / f"{name}.wav", at_4k, 4000, subtype="PCM_16")
    (tmp_path / "REFERENCE.csv").write_text("p1_mit,1\np1_aor,1\np2_mit,-1\n")
    (tmp_path / "SUBJECTS.csv").write_text("p1_mit,patient1\np1_aor,patient1\n")
    records = index_extra_set("clinic", tmp_path)
    assert [(r.name, r.label, r.subject) for r in records] == [
        ("p1_aor", 1, "clinic:patient1"),
        ("p1_mit", 1, "clinic:patient1"),
        ("p2_mit", 0, "clinic:p2_mit"),
    ]
    back = read_training_audio(records[0].path)  # 2 kHz, as the device resamples
    assert abs(back.size - x.size) <= 2
    assert parse_extra_sets([f"clinic={tmp_path}"]) == {"clinic": tmp_path}
    for bad in ("clinic", "a=/x", "Clinic=/x", f"clinic={tmp_path},clinic={tmp_path}"):
        with pytest.raises(SystemExit, match="NAME=DIR"):
            parse_extra_sets(bad.split(","))


def test_training_refuses_an_unknown_held_out_set_by_name(
    shared_data: Path, tmp_path: Path
) -> None:
    """Before any feature is computed: the set's name and the known ones, no traceback."""
    from model.train import main

    with pytest.raises(
        SystemExit, match=r"--holdout-set zz: no such set \(known: a, b, c, d, e, f\)"
    ):
        main(["--data-dir", str(shared_data), "--holdout-set", "zz", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="want NAME=DIR"):
        main(["--data-dir", str(shared_data), "--extra-set", "b=/x", "--out", str(tmp_path)])


def test_training_refuses_an_averaging_start_past_the_last_epoch(tmp_path: Path) -> None:
    """Checked before any data is read, so it needs no data."""
    from model.train import main

    with pytest.raises(SystemExit, match=r"--average-from takes 0-12 \(--epochs\)"):
        main(["--epochs", "12", "--average-from", "13", "--out", str(tmp_path)])


def test_training_refuses_a_negative_mixup_parameter(tmp_path: Path) -> None:
    from model.train import main

    with pytest.raises(SystemExit, match=r"--mixup takes a Beta parameter >= 0"):
        main(["--mixup", "-0.2", "--out", str(tmp_path)])
