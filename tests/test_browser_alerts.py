"""Alerts, search and export on the physician dashboard, in a real Chromium: an abnormal
reading opens an alert, acknowledged with a note it leaves the inbox and stays in the
history; a silent patient raises a missed-reading alert; the list puts open alerts first
and searches by label; CSV and FHIR exports carry verdicts and times only (the FHIR bundle
validates); the inbox fits a phone."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import Browser, Page, expect

from physician.alerts import FILE_NAME
from tests.browser_support import (
    PHONE,
    UI_TIMEOUT_MS,
    USERNAME,
    World,
    browser_context_args,
    browser_type_launch_args,
    fits_viewport,
    physician_world,
    running_dashboard,
    screenshot,
    sign_in,
    wait_live,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser_context_args", "browser_type_launch_args"]

RANGE = (50.0, 110.0, 0.5, 0.15)
ABNORMAL_BPM = 163.7  # distinctive, so an export that leaked it would be caught
PATIENTS: dict[str, tuple[float, float, float, float] | None] = {
    "Ann Abel": RANGE,
    "Nora Noble": RANGE,
    "Sam Silent": RANGE,
}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("alerts", PATIENTS) as world:
        world.submit("Ann Abel", ABNORMAL_BPM, 0.10)
        world.submit("Nora Noble", 72.0, 0.10)
        world.submit("Sam Silent", 71.0, 0.10, taken_at=datetime.now(UTC) - timedelta(hours=3))
        for label in PATIENTS:
            world.wait_decided(label, 1)
        yield world


@pytest.fixture(scope="module")
def dashboard(world: World) -> Iterator[str]:
    with running_dashboard(world, "alerts-dashboard") as url:
        yield url


def rows(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#patients tbody th").all_inner_texts()]


def test_alert_inbox_acknowledge_and_missed_readings(
    page: Page, dashboard: str, world: World
) -> None:
    sign_in(page, dashboard)
    # Open alerts first: Ann's abnormal reading opened one; the others follow by label.
    assert rows(page) == ["Ann Abel", "Nora Noble", "Sam Silent"]
    expect(page.locator("#alert-count")).to_have_text("1")
    ann = page.locator("#patients tbody tr", has_text="Ann Abel")
    expect(ann.locator(".open-alerts")).to_have_text("1")
    expect(ann.locator(".recent-abnormal")).to_have_text("1 / 1")  # last 24 h / 7 days
    nora = page.locator("#patients tbody tr", has_text="Nora Noble")
    expect(nora.locator(".recent-abnormal")).to_have_text("0 / 0")
    screenshot(page, "alerts-patient-list")

    page.get_by_label("Find a patient").fill("NOR")
    page.get_by_role("button", name="Search").click()
    assert rows(page) == ["Nora Noble"]
    expect(page.locator("#patients caption")).to_contain_text("1 of 3 match")
    page.get_by_label("Find a patient").fill("zzz")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No patient matches")).to_be_visible()

    # Sam's last reading is 3 h old: a 2 h missed-reading period opens an alert.
    page.goto(f"{dashboard}/patients/{world.patient_id('Sam Silent')}")
    period = page.get_by_label("Alert me when no reading arrives for (hours; empty: never)")
    period.fill("soon")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#hours-error")).to_contain_text("must be a number of hours")
    expect(period).to_have_attribute("aria-invalid", "true")
    period.fill("0.01")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#hours-error")).to_contain_text("between 0.25 and 720 hours")
    period.fill("2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("after 2 hours without a reading")
    expect(page.locator("#alert-history tbody tr")).to_contain_text("No readings received")

    page.get_by_role("link", name="Alerts").first.click()
    open_rows = page.locator("#open-alerts tbody tr")
    expect(open_rows).to_have_count(2)
    expect(open_rows.filter(has_text="Ann Abel")).to_contain_text("Abnormal reading")
    expect(open_rows.filter(has_text="Sam Silent")).to_contain_text("No readings received")
    expect(page.locator("#alert-count")).to_have_text("2")
    screenshot(page, "alerts-inbox")

    # Acknowledge Ann's with a note: gone from the inbox, kept in the history.
    ann_row = open_rows.filter(has_text="Ann Abel")
    ann_row.get_by_label("Note for Ann Abel").fill("called the patient, ECG booked")
    ann_row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_contain_text("Alert acknowledged")
    expect(open_rows).to_have_count(1)
    done = page.locator("#acknowledged-alerts tbody tr", has_text="Ann Abel")
    expect(done).to_contain_text(USERNAME)
    expect(done).to_contain_text("called the patient, ECG booked")
    expect(page.locator("#alert-count")).to_have_text("1")
    screenshot(page, "alerts-acknowledged")

    # Replaying the acknowledgement form is refused with a message, not a second entry.
    alert_id = done.get_attribute("data-alert-id")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"{dashboard}/alerts/{alert_id}/acknowledge",
        form={"csrf_token": csrf or "", "note": "again"},
    )
    assert answer.ok and f"already acknowledged by {USERNAME}" in answer.text()

    page.goto(f"{dashboard}/patients/{world.patient_id('Ann Abel')}")
    expect(page.locator("#alert-history tbody tr")).to_contain_text(f"acknowledged by {USERNAME}")

    # A new abnormal reading while the inbox is open: the count rises without a reload.
    page.goto(f"{dashboard}/alerts")
    wait_live(page)
    world.submit("Nora Noble", 150.0, 0.10)
    expect(page.locator("#alert-count")).to_have_text("2", timeout=UI_TIMEOUT_MS * 3)
    expect(page.locator("#live-alerts .alert")).to_contain_text("Nora Noble")
    page.reload()
    expect(open_rows.filter(has_text="Nora Noble")).to_contain_text("Abnormal reading")

    book = world.home / FILE_NAME
    assert stat.S_IMODE(os.stat(book).st_mode) == 0o600


def test_export_csv_and_fhir(page: Page, dashboard: str, world: World, tmp_path: Path) -> None:
    sign_in(page, dashboard)
    patient_id = world.patient_id("Ann Abel")
    page.goto(f"{dashboard}/patients/{patient_id}")
    page.get_by_label("Period").select_option("7d")

    def download(button: str) -> str:
        with page.expect_download() as info:
            page.get_by_role("button", name=button).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        return path.read_text()

    readings = list(csv.reader(io.StringIO(download("Readings (CSV)"))))
    assert readings[0] == ["reading_taken_utc", "received_utc", "result"]
    assert [row[2] for row in readings[1:]] == ["abnormal"]
    assert datetime.fromisoformat(readings[1][0]).tzinfo is not None

    bundle_text = download("FHIR R4 bundle")
    bundle = Bundle.model_validate_json(bundle_text)
    assert bundle.type == "collection" and bundle.entry is not None and len(bundle.entry) == 1
    observation = json.loads(bundle_text)["entry"][0]["resource"]
    assert observation["interpretation"][0]["coding"][0]["code"] == "A"
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"
    assert "valueQuantity" not in observation

    with page.expect_download() as info:
        page.get_by_role("button", name="Report (PDF)").click()
    pdf = tmp_path / "report.pdf"
    info.value.save_as(pdf)
    report = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Heart monitoring report: Ann Abel" in report
    assert "Period: last 7 days" in report
    assert "1 abnormal of 1 decided" in report
    assert "Abnormal reading; acknowledged by" in report.replace("\n", " ")
    assert "called the patient" in report
    info_text = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", info_text, re.MULTILINE), info_text  # one page

    alerts = list(csv.reader(io.StringIO(download("Alerts (CSV)"))))
    assert alerts[0][0] == "kind" and [row[0] for row in alerts[1:]] == ["abnormal"]
    for text in (bundle_text, report, *(",".join(r) for r in readings)):
        assert str(ABNORMAL_BPM) not in text and "1637" not in text

    refused = page.request.get(f"{dashboard}/patients/{patient_id}/export.csv?period=forever")
    assert refused.status == 422 and "period must be one of" in refused.text()
    missing = page.request.get(f"{dashboard}/patients/{patient_id}/export.xml")
    assert missing.status == 404


def test_inbox_on_a_phone(browser: Browser, dashboard: str, world: World) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, dashboard)
        assert fits_viewport(page)
        page.goto(f"{dashboard}/alerts")
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        assert fits_viewport(page)
        screenshot(page, "alerts-phone-inbox")
        page.goto(f"{dashboard}/patients/{world.patient_id('Ann Abel')}")
        assert fits_viewport(page)
        screenshot(page, "alerts-phone-patient")
    finally:
        context.close()
