"""Fixtures and helpers of the browser tests: Debian's Chromium driven by pytest-playwright,
both servers as real processes (``ops.launcher``), and the local pages as real
``hrmon`` processes on free loopback ports.

Test modules import the fixtures they use (so that the Chromium launch arguments override
pytest-playwright's defaults in that module). Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from client.device_config import DeviceConfig
from client.encrypt import encode_range, encode_reading
from client.system_key import SystemPublicKey
from client.web.basics import free_port
from device.cli import submit
from device.sending import connect
from ops.launcher import write_key_dir
from physician import cli as physician_cli
from physician import keys as physician_keys
from physician.keys import PhysicianKeyPair
from protocol.messages import ResultOut
from tests.conftest import REPO_ROOT, physician_key, system_key

CHROMIUM = Path(os.environ.get("HRMON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = REPO_ROOT / "test-output" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
USERNAME = "dr.browser"
PASSWORD = "browser-test-password-4417"
RESULT_TIMEOUT_S = 90.0
START_TIMEOUT_S = 60.0
UI_TIMEOUT_MS = 30_000


def require_chromium() -> None:
    """Skip (fail under CI) when Debian's Chromium is not installed."""
    if CHROMIUM.is_file():
        return
    message = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium (Playwright's own download needs the internet)."""
    require_chromium()
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": DESKTOP}


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots/ and return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_viewport(page: Page) -> bool:
    """No horizontal scrolling: the page is usable at this width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


# -- processes ----------------------------------------------------------------------------


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for ``url`` to answer 200, or fail with the process's log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_hrmon_page(words: list[str], log: Path) -> Iterator[str]:
    """``hrmon WORDS --port P`` as a real process; yields its URL, stops it afterwards."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", *words, "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- a physician with patients on real servers --------------------------------------------


@dataclass
class World:
    """Both servers, an enrolled physician (home with sk_D) and their patients' devices."""

    base: Path
    keys: Path
    servers: Any
    home: Path
    server_url: str
    pair: PhysicianKeyPair
    devices: dict[str, DeviceConfig] = field(default_factory=dict)
    device_files: dict[str, Path] = field(default_factory=dict)

    def patient_id(self, label: str) -> str:
        return self.devices[label].patient_id

    def submit(self, label: str, bpm: float, score: float, taken_at: datetime | None = None) -> str:
        """Send one reading as the patient's device would; returns its reading id."""
        config = self.devices[label]
        when = taken_at or datetime.now(UTC)
        with connect(config) as api:
            return submit(api, config, encode_reading(bpm, score), when).reading_id

    def results(self, label: str) -> list[ResultOut]:
        api, _ = physician_cli.login(self.home, PASSWORD)
        with api:
            return api.results(self.patient_id(label))

    def wait_decided(self, label: str, count: int) -> list[ResultOut]:
        """Poll A until ``count`` of the patient's readings are decided."""
        api, _ = physician_cli.login(self.home, PASSWORD)
        with api:
            return physician_cli.wait_for_results(
                api, self.patient_id(label), expected=count, timeout_s=RESULT_TIMEOUT_S
            )


def launch(keys: Path, base: Path) -> Any:
    """Both servers as real processes (ops.launcher), test keys allowed."""
    from ops.launcher import launch_servers

    return launch_servers(
        keys,
        database_url=f"sqlite:///{base / 'a.sqlite3'}",
        log_dir=base / "logs",
        insecure_test_keys=True,
    )


@contextmanager
def physician_world(
    name: str, patients: dict[str, tuple[float, float, float, float] | None]
) -> Iterator[World]:
    """Servers up, a physician enrolled, each patient added with the range given (or none).

    The servers' files live in a folder of their own rather than pytest's numbered
    temporary folders, which a concurrent pytest run may prune while the servers run.
    """
    with (
        tempfile.TemporaryDirectory(prefix=f"hrmon-browser-{name}-") as folder,
        _physician_world(Path(folder), patients) as world,
    ):
        yield world


@contextmanager
def _physician_world(
    base: Path, patients: dict[str, tuple[float, float, float, float] | None]
) -> Iterator[World]:
    keys = write_key_dir(base / "keys", system=system_key())
    with launch(keys, base) as servers:
        home = base / "physician"
        home.mkdir(mode=0o700)
        pair = PhysicianKeyPair(*physician_key())
        physician_keys.save(pair, home)
        pinned = SystemPublicKey.from_public_key(system_key()[0])
        token = (keys / "enrolment_token").read_text().strip()
        physician_cli.enrol(home, servers.a_url, USERNAME, PASSWORD, pinned, token)
        world = World(base, keys, servers, home, servers.a_url, pair)
        for index, (label, bounds) in enumerate(patients.items()):
            world.device_files[label] = base / f"device-{index}.json"
            world.devices[label] = physician_cli.add_patient(
                home, PASSWORD, label, world.device_files[label]
            )
            if bounds is not None:
                physician_cli.set_range(
                    home, PASSWORD, world.patient_id(label), encode_range(*bounds)
                )
        yield world


@contextmanager
def running_dashboard(world: World, name: str = "dashboard") -> Iterator[str]:
    """``hrmon physician dashboard`` for the world's physician."""
    words = ["physician", "dashboard", "--home", str(world.home)]
    with running_hrmon_page(words, world.base / f"{name}.log") as url:
        yield url


def sign_in(page: Page, url: str, password: str = PASSWORD) -> None:
    """Sign in through the form and land on the patient list."""
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if password == PASSWORD:
        expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def wait_live(page: Page) -> None:
    """Wait until the page's event stream is connected through to server A."""
    expect(page.locator("#live-status")).to_have_attribute(
        "data-state", "live", timeout=UI_TIMEOUT_MS
    )
