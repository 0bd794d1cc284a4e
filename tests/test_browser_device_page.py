"""The patient device page in a real Chromium: a shipped recording is analysed on the device
(heart rate shown to the patient), only ciphertexts are sent, a long recording is streamed
window by window, and bad audio or server A being down are clear messages."""

from __future__ import annotations

import json
import re
import uuid
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page, expect

from client.encrypt import encode_range, encode_reading, expected_result
from device import analysis
from ops.demo import SAMPLES_DIR, load_samples
from protocol.messages import READING_CIPHERTEXTS
from tests.browser_support import (
    PHONE,
    UI_TIMEOUT_MS,
    World,
    browser_context_args,
    browser_type_launch_args,
    fits_viewport,
    physician_world,
    running_hrmon_page,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser_context_args", "browser_type_launch_args"]

LABEL = "Device Patient"
RANGE = (50.0, 110.0, 0.5, 0.15)
STREAM_WINDOW_S = 5
ANALYSIS_TIMEOUT_MS = UI_TIMEOUT_MS * 4
CIPHERTEXT_SHOWN = re.compile(r"^[A-Za-z0-9+/=_-]{32}… \(\d+ characters\)$")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("device", {LABEL: RANGE}) as world:
        yield world


@pytest.fixture(scope="module")
def device_page(world: World) -> Iterator[str]:
    words = ["device", "page", "--config", str(world.device_files[LABEL])]
    with running_hrmon_page(words, world.base / "device-page.log") as url:
        yield url


@pytest.fixture(scope="module")
def sample() -> tuple[Path, analysis.Analysis]:
    """The first shipped recording the device can use, with what the device finds in it."""
    for entry in load_samples():
        path = SAMPLES_DIR / entry.file
        result = analysis.analyse_file(path)
        if result.usable:
            return path, result
    pytest.fail("no shipped recording is usable")


def upload(page: Page, url: str, path: Path) -> None:
    page.goto(url + "/")
    page.get_by_label("Recording (.wav)", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Analyse and send").click()


def test_upload_shows_heart_rate_and_sends_ciphertexts_only(
    page: Page, device_page: str, world: World, sample: tuple[Path, analysis.Analysis]
) -> None:
    path, expected = sample
    assert expected.bpm is not None and expected.score is not None
    before = len(world.results(LABEL))

    upload(page, device_page, path)
    expect(page.locator("#heart-rate")).to_contain_text(
        f"{expected.bpm:.1f}", timeout=ANALYSIS_TIMEOUT_MS
    )
    expect(page.locator("#score")).to_have_text(f"{expected.score:.3f}")
    expect(page.locator("#sent-summary")).to_contain_text("ciphertexts only")
    screenshot(page, "device-upload-sent")

    shown = page.locator("#sent-body").inner_text()
    body = json.loads(shown)
    assert set(body) == {"reading_id", "key_id", "taken_at", *READING_CIPHERTEXTS}
    assert body["key_id"] == world.devices[LABEL].system_key.key_id
    assert all(CIPHERTEXT_SHOWN.match(body[name]) for name in READING_CIPHERTEXTS)
    uuid.UUID(body["reading_id"])
    datetime.fromisoformat(body["taken_at"])
    # every value is of its form; nothing else in the box may carry a clear value (the
    # values themselves are random digits and letters, where "628" turns up by chance)
    rest = shown
    for value in body.values():
        rest = rest.replace(value, "<value>")
    for clear in (f"{expected.bpm:.1f}", str(round(expected.bpm * 10)), f"{expected.score:.3f}"):
        assert clear not in rest

    # Server A stored exactly that reading, and it decides as the clear-text check says.
    rows = world.wait_decided(LABEL, before + 1)
    row = next(r for r in rows if str(r.reading_id) == body["reading_id"])
    assert row.status == "done" and row.result is not None
    reading = encode_reading(expected.bpm, expected.score, expected.irregularity)
    assert world.pair.decrypt_bit(row.result) == expected_result(reading, encode_range(*RANGE))

    # The patient's own history, on the device only: the page lists the reading again.
    page.get_by_role("link", name="Send another recording").click()
    own = page.locator("#own-readings tbody tr").first
    expect(own).to_contain_text(f"{reading.heart_rate / 10:.1f} bpm")
    expect(own).to_contain_text(f"{reading.score / 10_000:.3f}")


def write_wav(path: Path, samples: np.ndarray, rate: int = 2000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def test_a_two_second_recording_is_sent_with_its_score_only(
    page: Page, device_page: str, world: World, sample: tuple[Path, analysis.Analysis]
) -> None:
    """Too short for a heart rate, long enough for a score: the patient is told the range
    is skipped, and A gets the same four ciphertexts as for any reading."""
    samples, rate = sf.read(sample[0], dtype="int16")
    clip = world.base / "two-seconds.wav"
    sf.write(clip, samples[: 2 * rate], rate, subtype="PCM_16")
    expected = analysis.analyse_file(clip)
    assert expected.score_only and expected.score is not None
    before = len(world.results(LABEL))

    upload(page, device_page, clip)
    expect(page.locator("#heart-rate")).to_contain_text(
        "too short for a heart rate", timeout=ANALYSIS_TIMEOUT_MS
    )
    expect(page.locator("#heart-rate")).to_contain_text("score only")
    expect(page.locator("#score")).to_have_text(f"{expected.score:.3f}")
    expect(page.locator("#sent-summary")).to_contain_text("ciphertexts only")
    body = json.loads(page.locator("#sent-body").inner_text())
    assert set(READING_CIPHERTEXTS) <= set(body)
    screenshot(page, "device-two-second-score-only")

    rows = world.wait_decided(LABEL, before + 1)
    row = next(r for r in rows if str(r.reading_id) == body["reading_id"])
    reading = encode_reading(None, expected.score, expected.irregularity)
    assert world.pair.decrypt_bit(row.result) == expected_result(reading, encode_range(*RANGE))
    page.get_by_role("link", name="Send another recording").click()
    expect(page.locator("#own-readings tbody tr").first).to_contain_text("not measured")


def test_a_clean_recording_too_faint_for_a_rate_is_sent_with_its_score_only(
    page: Page, device_page: str, world: World
) -> None:
    """a0060 (shipped, ECG rate 61 bpm): no rate reads in it, but the quality gate judges it
    a clean heart recording, so its score goes out and the patient is told why."""
    recording = SAMPLES_DIR / "a0060.wav"
    expected = analysis.analyse_file(recording)
    assert expected.score_only and expected.quality == "clean" and expected.score is not None
    before = len(world.results(LABEL))
    upload(page, device_page, recording)
    shown = page.locator("#heart-rate")
    expect(shown).to_contain_text("No heart rate could be read", timeout=ANALYSIS_TIMEOUT_MS)
    expect(shown).to_contain_text("clean heart sounds")
    expect(shown).to_contain_text("score only")
    expect(page.locator("#sent-summary")).to_contain_text("ciphertexts only")
    screenshot(page, "device-faint-recording-score-only")
    body = json.loads(page.locator("#sent-body").inner_text())
    rows = world.wait_decided(LABEL, before + 1)
    row = next(r for r in rows if str(r.reading_id) == body["reading_id"])
    reading = encode_reading(None, expected.score, expected.irregularity)
    assert world.pair.decrypt_bit(row.result) == expected_result(reading, encode_range(*RANGE))


def test_bad_audio_is_a_clear_message_and_nothing_is_sent(
    page: Page, device_page: str, world: World, tmp_path: Path
) -> None:
    before = len(world.results(LABEL))
    not_audio = tmp_path / "not-audio.wav"
    not_audio.write_text("this is not a recording")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(2000 * 12))
    noise = np.random.default_rng(7).standard_normal(2000) * 0.1
    short = write_wav(tmp_path / "short.wav", noise)  # one second
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    for path, words in (
        (not_audio, ("not-audio.wav", "not audio", "Nothing was sent")),
        (silent, ("silent.wav", "silent", "Nothing was sent")),
        (short, ("short.wav", "too short", "Nothing was sent")),
        (
            notes,
            (
                "notes.txt",
                "not a .wav",
            ),
        ),
    ):
        upload(page, device_page, path)
        message = page.get_by_role("alert")
        for word in words:
            expect(message).to_contain_text(word)
        expect(message).not_to_contain_text("/tmp/")  # names the patient's file, not a copy
        screenshot(page, f"device-bad-audio-{path.stem}")
    assert len(world.results(LABEL)) == before


def test_a_recording_without_heart_sounds_is_held_back_and_the_patient_told_why(
    page: Page, device_page: str, world: World
) -> None:
    """A real phone recording with no heart in it (PASCAL 2011, tests/audio/): its
    "rate" reads, but the quality gate holds it back; no made-up rate is shown."""
    before = len(world.results(LABEL))
    upload(page, device_page, Path(__file__).parent / "audio" / "pascal_artifact_201106101314.wav")
    message = page.get_by_role("alert")
    expect(message).to_contain_text("poor signal quality", timeout=ANALYSIS_TIMEOUT_MS)
    expect(message).to_contain_text("nothing was sent")
    expect(message).to_contain_text("pascal_artifact_201106101314.wav")
    expect(message).not_to_contain_text("/tmp/")  # the patient's file, not the copy
    expect(page.locator("#heart-rate")).to_contain_text("No heart rate")
    expect(page.locator("#heart-rate")).not_to_contain_text("bpm")
    screenshot(page, "device-held-back-poor-quality")
    assert len(world.results(LABEL)) == before


def test_a_reading_made_while_a_is_down_is_kept_and_sent_with_the_next(
    page: Page, device_page: str, world: World, sample: tuple[Path, analysis.Analysis]
) -> None:
    before = len(world.results(LABEL))
    world.servers.a.stop()
    try:
        upload(page, device_page, sample[0])
        kept = page.locator("#kept-summary")
        expect(kept).to_contain_text("Server A cannot be reached", timeout=ANALYSIS_TIMEOUT_MS)
        expect(kept).to_contain_text("kept on this device (1 waiting)")
        # Analysis happened on the device all the same, and the patient sees what will go.
        expect(page.locator("#heart-rate")).to_contain_text("bpm")
        expect(page.locator("#sent-body")).to_contain_text('"heart_rate"')
        screenshot(page, "device-server-a-down")
    finally:
        world.servers.a.start()
    upload(page, device_page, sample[0])
    expect(page.locator("#sent-summary")).to_contain_text(
        "safely received", timeout=ANALYSIS_TIMEOUT_MS
    )
    # Both readings, the kept one first, decided once each.
    assert len(world.wait_decided(LABEL, before + 2)) == before + 2


def test_stream_sends_one_reading_per_usable_window(
    page: Page, device_page: str, world: World, sample: tuple[Path, analysis.Analysis]
) -> None:
    path = sample[0]
    signal, rate = analysis.load(path)
    windows = analysis.windows(signal, rate, STREAM_WINDOW_S, STREAM_WINDOW_S)
    usable = sum(
        analysis.analyse_signal(window, rate, "window", start).usable for start, window in windows
    )
    assert len(windows) >= 2 and usable >= 1
    before = len(world.results(LABEL))

    page.goto(device_page + "/")
    page.get_by_label("Long recording (.wav)").set_input_files(str(path))
    page.get_by_label("Window length (seconds)").fill(str(STREAM_WINDOW_S))
    page.get_by_role("button", name="Stream").click()
    expect(page.locator("#stream")).to_have_attribute(
        "data-finished", "yes", timeout=ANALYSIS_TIMEOUT_MS
    )
    expect(page.locator("#stream-summary")).to_have_text(
        f"Finished: {usable} of {len(windows)} windows sent"
    )
    progress = page.locator("#stream-progress")
    expect(progress).to_have_attribute("max", str(len(windows)))
    expect(progress).to_have_attribute("value", str(len(windows)))
    expect(page.locator("#windows tbody tr")).to_have_count(len(windows))
    expect(page.locator("#windows tbody tr", has_text="sent: ciphertexts only")).to_have_count(
        usable
    )
    screenshot(page, "device-stream")
    assert len(world.wait_decided(LABEL, before + usable)) == before + usable


def test_phone_viewport(
    browser: Browser, device_page: str, sample: tuple[Path, analysis.Analysis]
) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(device_page + "/")
        assert fits_viewport(page)
        screenshot(page, "device-phone-index")
        upload(page, device_page, sample[0])
        expect(page.locator("#sent-body")).to_be_visible(timeout=ANALYSIS_TIMEOUT_MS)
        assert fits_viewport(page)
        screenshot(page, "device-phone-sent")
    finally:
        context.close()
