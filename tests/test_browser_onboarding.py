"""Onboarding on the physician dashboard, in a real Chromium, against real servers: add a
patient (labels checked and unique), hand the device a one-time invitation (text and a
QR code made locally), ``hrmon device enrol`` redeems it once, the device's readings are
decided, a second device replaces the first, and revoking stops the device at once."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from client import device_config
from client.encrypt import encode_range
from client.enrolment import Invitation, decode
from device.cli import enrol_main
from physician import cli as physician_cli
from tests.browser_support import (
    PASSWORD,
    PHONE,
    World,
    browser_context_args,
    browser_type_launch_args,
    fits_viewport,
    physician_world,
    running_dashboard,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser_context_args", "browser_type_launch_args"]

LABEL = "Olga Onboard"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("onboarding", {"Existing Patient": None}) as world:
        yield world


@pytest.fixture(scope="module")
def dashboard(world: World) -> Iterator[str]:
    with running_dashboard(world, "onboarding-dashboard") as url:
        yield url


def invitation_text(page: Page) -> str:
    expect(page.get_by_role("heading", name=f"Invitation for {LABEL}'s device")).to_be_visible()
    expect(page.locator(".qr svg path")).to_have_count(1)  # the QR code, inline SVG
    return page.get_by_label("Or copy the invitation").input_value()


def enrol(text: str, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = enrol_main([text, "--config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_add_patient_enrol_device_replace_and_revoke(
    page: Page, dashboard: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in(page, dashboard)
    add = page.get_by_role("button", name="Add and invite their device")
    add.click()
    expect(page.locator("#label-error")).to_contain_text("Enter the patient's label")
    page.get_by_label("Label").fill("  existing   PATIENT ")
    add.click()
    expect(page.locator("#label-error")).to_contain_text("already have a patient labelled")
    expect(page.get_by_label("Label")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "onboarding-duplicate-label")

    page.get_by_label("Label").fill(LABEL)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        add.click()
    assert answer.value.status == 201
    assert answer.value.headers["cache-control"] == "no-store"  # the code is a credential
    text = invitation_text(page)
    screenshot(page, "onboarding-invitation")
    invitation = decode(text)
    assert invitation.server == world.server_url

    # A server that serves another system key is refused before the code is spent.
    forged = Invitation(invitation.server, "0" * len(invitation.key_id), invitation.code)
    status, said = enrol(forged.encode(), tmp_path / "forged.json", capsys)
    assert status == 5 and "not the pinned key" in said
    assert not (tmp_path / "forged.json").exists()

    first = tmp_path / "device-1.json"
    status, said = enrol(text, first, capsys)
    assert status == 0, said
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    status, said = enrol(text, tmp_path / "again.json", capsys)  # one use only
    assert status == 8 and "unknown, already used or expired" in said
    assert invitation.code not in said

    world.devices[LABEL] = device_config.load(first)
    physician_cli.set_range(
        world.home, PASSWORD, world.patient_id(LABEL), encode_range(50.0, 110.0, 0.5, 0.15)
    )
    world.submit(LABEL, 72.0, 0.1)
    assert [r.status for r in world.wait_decided(LABEL, 1)] == ["done"]

    # A second device: a new invitation; once redeemed, the first device is refused.
    page.goto(f"{dashboard}/patients/{world.patient_id(LABEL)}")
    page.get_by_role("link", name="Device").first.click()
    page.get_by_role("button", name="Make an invitation").click()
    second = tmp_path / "device-2.json"
    status, said = enrol(invitation_text(page), second, capsys)
    assert status == 0, said
    old_token = world.devices[LABEL].device_token
    assert refused(world, old_token)
    world.devices[LABEL] = device_config.load(second)
    world.submit(LABEL, 73.0, 0.1)
    assert len(world.wait_decided(LABEL, 2)) == 2

    # Revoke: not without the confirmation; then the current device is refused at once.
    page.goto(f"{dashboard}/patients/{world.patient_id(LABEL)}/device")
    page.get_by_role("button", name="Revoke the device").click()
    expect(page.get_by_role("status").first).to_contain_text("Nothing was revoked")
    assert not refused(world, world.devices[LABEL].device_token)
    page.get_by_label("Yes, stop this patient's current device").check()
    page.get_by_role("button", name="Revoke the device").click()
    expect(page.get_by_role("status").first).to_contain_text("is revoked")
    assert refused(world, world.devices[LABEL].device_token)
    screenshot(page, "onboarding-revoked")


def refused(world: World, token: str) -> bool:
    """Whether A refuses the token (401) on the device's own route."""
    answer = httpx.post(
        f"{world.server_url}/v1/readings", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code == 401


def test_invitation_on_a_phone(browser: Browser, dashboard: str, world: World) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, dashboard)
        assert fits_viewport(page)
        screenshot(page, "onboarding-phone-patients")
        page.goto(f"{dashboard}/patients/{world.devices['Existing Patient'].patient_id}/device")
        page.get_by_role("button", name="Make an invitation").click()
        expect(page.locator(".qr svg")).to_be_visible()
        assert fits_viewport(page)
        screenshot(page, "onboarding-phone-invitation")
    finally:
        context.close()


def test_api_docs_render_offline(page: Page, world: World) -> None:
    """Swagger UI and ReDoc come from A's own assets: every request the pages make goes
    to A itself, and both render the API (this machine has no route to a CDN anyway)."""
    hosts: set[str] = set()
    page.on(
        "request",
        lambda request: (
            hosts.add(f"{request.resource_type} {request.url}")
            if not request.url.startswith(world.server_url) and request.url.startswith("http")
            else None
        ),
    )
    page.goto(f"{world.server_url}/docs")
    expect(page.get_by_role("heading", name=re.compile("hrmon server A"))).to_be_visible()
    expect(page.get_by_text("/v1/device-enrolment").first).to_be_visible()
    screenshot(page, "api-docs-swagger")
    page.goto(f"{world.server_url}/redoc")
    expect(page.get_by_text("Redeem an enrolment code").first).to_be_visible()
    screenshot(page, "api-docs-redoc")
    # Only ReDoc's "powered by" logo points at its CDN (an <img> in its bundle): offline
    # it is missing and nothing else changes. Scripts, styles and fonts are all local.
    assert {entry.split()[0] for entry in hosts} <= {"image"}, hosts
