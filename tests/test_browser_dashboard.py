"""The physician dashboard in a real Chromium: sign in and out, the patient list, a live
abnormal reading arriving without reload, history and tallies, range editing, and clear
messages for a wrong password and for server A being down."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from protocol.encoding import to_zn
from tests.browser_support import (
    PASSWORD,
    PHONE,
    UI_TIMEOUT_MS,
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
from tests.service_helpers import bearer, reading_body

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser_context_args", "browser_type_launch_args"]

NORMAL_RANGE = (50.0, 110.0, 0.5, 0.15)
PATIENTS = {
    "Ada Lovelace": NORMAL_RANGE,  # one normal reading
    "Alan Turing": NORMAL_RANGE,  # one abnormal reading (too fast)
    "Grace Hopper": None,  # one reading, no range yet: stays pending
    "Edsger Dijkstra": NORMAL_RANGE,  # the live test's patient
    "Barbara Liskov": NORMAL_RANGE,  # the range test's patient
}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("dashboard", PATIENTS) as world:
        world.submit("Ada Lovelace", 72.0, 0.10)
        world.submit("Alan Turing", 150.0, 0.10)
        world.submit("Grace Hopper", 72.0, 0.10)
        world.wait_decided("Ada Lovelace", 1)
        world.wait_decided("Alan Turing", 1)
        yield world


@pytest.fixture(scope="module")
def dashboard(world: World) -> Iterator[str]:
    with running_dashboard(world) as url:
        yield url


def patient_row(page: Page, label: str):  # type: ignore[no-untyped-def]
    return page.locator("#patients tbody tr", has_text=label)


def test_sign_in_see_patients_and_sign_out(page: Page, dashboard: str) -> None:
    page.goto(dashboard + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    sign_in(page, dashboard, password="not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "dashboard-wrong-password")

    sign_in(page, dashboard)
    expect(patient_row(page, "Ada Lovelace").locator(".verdict")).to_have_text("normal")
    expect(patient_row(page, "Alan Turing").locator(".verdict")).to_have_text("abnormal")
    expect(patient_row(page, "Grace Hopper").locator(".verdict")).to_have_text("pending")
    expect(patient_row(page, "Edsger Dijkstra").locator(".verdict")).to_have_text("no readings yet")
    expect(patient_row(page, "Grace Hopper")).to_contain_text("not set")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session_cookie = cookies["hrmon_dashboard"]
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    screenshot(page, "dashboard-patients")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    screenshot(page, "dashboard-signed-out")
    page.goto(dashboard + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    # The old session id is dead: replaying it gets the sign-in page, not the patients.
    page.context.add_cookies(
        [{"name": "hrmon_dashboard", "value": session_cookie["value"], "url": dashboard}]
    )
    page.goto(dashboard + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_live_abnormal_reading_arrives_without_reload(
    page: Page, dashboard: str, world: World
) -> None:
    sign_in(page, dashboard)
    wait_live(page)
    page.evaluate("window.__sameDocument = 'still here'")

    world.submit("Edsger Dijkstra", 131.0, 0.10)  # above the healthy 110 bpm

    alert = page.locator("#live-alerts .alert")
    expect(alert).to_contain_text("Abnormal reading", timeout=UI_TIMEOUT_MS * 3)
    expect(alert).to_contain_text("Edsger Dijkstra")
    expect(patient_row(page, "Edsger Dijkstra").locator(".verdict")).to_have_text("abnormal")
    assert page.evaluate("window.__sameDocument") == "still here"  # no reload happened
    screenshot(page, "dashboard-live-alert")

    # The history page: the reading, the decrypted tallies and the chart.
    alert.get_by_role("link", name="Edsger Dijkstra").click()
    expect(page.get_by_role("heading", name="Edsger Dijkstra")).to_be_visible()
    tallies = page.locator("#tallies tbody tr")
    for window in ("last 24 hours", "last 7 days", "all time"):
        row = tallies.filter(has_text=window)
        expect(row.locator("td").nth(0)).to_have_text("1")  # abnormal
        expect(row.locator("td").nth(1)).to_have_text("1")  # decided
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("svg.chart rect.bar-abnormal")).to_have_count(1)
    expect(page.locator("svg.chart rect.bar-normal")).to_have_count(0)

    # A normal reading arrives live on the history page too, and the alert stays quiet.
    wait_live(page)
    world.submit("Edsger Dijkstra", 70.0, 0.10)
    expect(page.locator("#history tbody tr")).to_have_count(2, timeout=UI_TIMEOUT_MS * 3)
    expect(page.locator("#history tbody tr").first.locator(".verdict")).to_have_text("normal")
    expect(page.locator("#live-alerts .alert")).to_have_count(0)
    page.reload()
    expect(
        page.locator("#tallies tbody tr").filter(has_text="all time").locator("td").nth(1)
    ).to_have_text("2")
    screenshot(page, "dashboard-history")


def test_change_range_takes_effect(page: Page, dashboard: str, world: World) -> None:
    sign_in(page, dashboard)
    patient_row(page, "Barbara Liskov").get_by_role("link", name="Edit range").click()
    expect(page.get_by_role("heading", name="Healthy range of Barbara Liskov")).to_be_visible()
    # the physician is told what the score can and cannot hear (docs/model.md)
    expect(page.locator("#threshold-hint")).to_contain_text("murmurs of valve disease")
    expect(page.locator("#threshold-hint")).to_contain_text("coronary artery disease only weakly")

    page.get_by_label("Lowest healthy rate (bpm)").fill("fast")
    page.get_by_label("Highest healthy rate (bpm)").fill("400")
    page.get_by_label("Abnormality threshold (probability)").fill("2")
    page.get_by_role("button", name="Encrypt and save").click()
    expect(page.locator("#low-error")).to_have_text("Lowest healthy heart rate must be a number.")
    expect(page.locator("#high-error")).to_contain_text("between 20 and 300 bpm")
    expect(page.locator("#threshold-error")).to_contain_text("at most 1")
    expect(page.get_by_label("Lowest healthy rate (bpm)")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "dashboard-range-errors")

    # 40-60 bpm: a 75 bpm reading, normal under the old 50-110, must now be abnormal.
    page.get_by_label("Lowest healthy rate (bpm)").fill("40")
    page.get_by_label("Highest healthy rate (bpm)").fill("60")
    page.get_by_label("Abnormality threshold (probability)").fill("0.95")
    page.get_by_role("button", name="Encrypt and save").click()
    expect(page.get_by_role("status").first).to_contain_text("Healthy range for Barbara Liskov")
    screenshot(page, "dashboard-range-saved")

    wait_live(page)
    world.submit("Barbara Liskov", 75.0, 0.10)
    expect(page.locator("#latest .verdict")).to_have_text("abnormal", timeout=UI_TIMEOUT_MS * 3)
    expect(page.locator("#live-alerts .alert")).to_contain_text("Barbara Liskov")


def test_phone_viewport(browser: Browser, dashboard: str, world: World) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, dashboard)
        assert fits_viewport(page)
        expect(page.locator("#patients td[data-label='Latest result']").first).to_be_visible()
        screenshot(page, "dashboard-phone-patients")
        patient_row(page, "Alan Turing").get_by_role("link", name="History").click()
        expect(page.get_by_role("heading", name="Alan Turing")).to_be_visible()
        assert fits_viewport(page)
        screenshot(page, "dashboard-phone-history")
        page.get_by_role("link", name="Edit healthy range").click()
        assert fits_viewport(page)
        screenshot(page, "dashboard-phone-range")
    finally:
        context.close()


def test_a_device_fault_is_shown_to_the_physician(page: Page, dashboard: str, world: World) -> None:
    """A reading the guard bits refuse is a device fault: the physician sees the count on
    the patient list (the device itself only ever hears "stored")."""
    config = world.devices["Ada Lovelace"]
    pk = config.system_key.public_key
    body = reading_body(pk, to_zn(2**200, pk.n), 10)
    answer = httpx.post(
        f"{world.server_url}/v1/readings", json=body, headers=bearer(config.device_token)
    )
    assert answer.status_code == 202 and answer.json()["status"] == "stored"
    decided = [r for r in world.results("Ada Lovelace") if str(r.reading_id) == body["reading_id"]]
    deadline = time.monotonic() + 60
    while not (decided and decided[0].status == "invalid") and time.monotonic() < deadline:
        time.sleep(0.2)
        decided = [
            r for r in world.results("Ada Lovelace") if str(r.reading_id) == body["reading_id"]
        ]
    assert decided and decided[0].status == "invalid"
    sign_in(page, dashboard)
    expect(patient_row(page, "Ada Lovelace").locator(".device-fault")).to_have_text(
        "device fault: 1 reading refused"
    )
    screenshot(page, "dashboard-device-fault")


def test_server_a_down_is_a_clear_message(
    browser: Browser, page: Page, dashboard: str, world: World
) -> None:
    sign_in(page, dashboard)
    wait_live(page)
    world.servers.a.stop()
    try:
        expect(page.locator("#live-status")).to_have_attribute(
            "data-state", "down", timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#live-status")).to_contain_text("paused")
        page.reload()
        expect(page.get_by_role("heading", name="Server A is unreachable")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(world.server_url)
        screenshot(page, "dashboard-server-a-down")

        other = browser.new_context()
        try:
            fresh = other.new_page()
            sign_in(fresh, dashboard, password=PASSWORD + "-but-a-is-down")
            expect(fresh.get_by_role("alert")).to_contain_text("cannot be reached")
            screenshot(fresh, "dashboard-sign-in-server-a-down")
        finally:
            other.close()
    finally:
        world.servers.a.start()
    page.reload()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    wait_live(page)
