"""The dashboard shows nothing it cannot know: its HTML and every byte the browser sends or
receives (requests, responses, the live event stream) are searched for the submitted
readings' heart rates and scores (in every encoding), the physician's secret key, the
system key shares, server A's token, device tokens and A's result ciphertexts."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser_support import (
    UI_TIMEOUT_MS,
    World,
    browser_context_args,
    browser_type_launch_args,
    physician_world,
    running_dashboard,
    sign_in,
    wait_live,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser_context_args", "browser_type_launch_args"]

LABEL = "Privacy Patient"
# Distinctive values: none of them can come from a layout number, a time or a count.
NORMAL_READING = (103.7, 0.2468)
ABNORMAL_READING = (137.9, 0.8642)
RANGE_FORM = ("45", "125", "0.7", "0.2")

RECORD_EVENTS = """
(() => {
  const Original = window.EventSource;
  function Recording(url, options) {
    const source = new Original(url, options);
    for (const type of ["status", "result", "message"]) {
      source.addEventListener(type, (e) => window.__hrmonRecord(type + " " + e.data));
    }
    return source;
  }
  Recording.prototype = Original.prototype;
  Object.assign(Recording, { CONNECTING: 0, OPEN: 1, CLOSED: 2 });
  window.EventSource = Recording;
})();
"""
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def decimal_pattern(text: str) -> re.Pattern[str]:
    """``text`` as a number on its own (not the middle of a longer number)."""
    return re.compile(rf"(?<![0-9.]){re.escape(text)}(?![0-9])")


def integer_pattern(value: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){value}(?![0-9A-Za-z])")


def reading_patterns(bpm: float, score: float) -> dict[str, re.Pattern[str]]:
    """A reading in every form a leak could take: bpm, tenths, p, percent, fixed point."""
    return {
        f"heart rate {bpm} bpm": decimal_pattern(f"{bpm:.1f}"),
        f"heart rate {bpm} in tenths": integer_pattern(round(bpm * 10)),
        f"score {score}": decimal_pattern(f"{score:.4f}".lstrip("0")),
        f"score {score} (3 decimals)": decimal_pattern(f"{score:.3f}".lstrip("0")),
        f"score {score} as percent": decimal_pattern(f"{score * 100:.2f}"),
        f"score {score} fixed point": integer_pattern(round(score * 10_000)),
    }


def number_patterns(name: str, value: int) -> dict[str, re.Pattern[str]]:
    """A big secret number as decimal, hex and base64 (a 24-character prefix suffices)."""
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return {
        f"{name} (decimal)": re.compile(str(value)[:24]),
        f"{name} (hex)": re.compile(f"{value:x}"[:24], re.IGNORECASE),
        f"{name} (base64)": re.compile(re.escape(base64.b64encode(raw).decode()[:24])),
        f"{name} (base64url)": re.compile(re.escape(base64.urlsafe_b64encode(raw).decode()[:24])),
    }


def forbidden(world: World) -> dict[str, re.Pattern[str]]:
    import json

    patterns: dict[str, re.Pattern[str]] = {}
    for bpm, score in (NORMAL_READING, ABNORMAL_READING):
        patterns |= reading_patterns(bpm, score)
    sk = world.pair.private_key
    p, q = int(sk.p), int(sk.q)
    for name, value in (
        ("sk_D p", p),
        ("sk_D q", q),
        ("sk_D lambda (phi)", (p - 1) * (q - 1)),
        ("sk_D lambda (lcm)", (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)),
    ):
        patterns |= number_patterns(name, value)
    for share in ("share_a.json", "share_b.json"):
        value = int(json.loads((world.keys / share).read_text())["value"], 16)
        patterns |= number_patterns(f"system key {share}", value)
    for label, config in world.devices.items():
        patterns[f"device token of {label}"] = re.compile(re.escape(config.device_token))
    patterns["server A's JWT"] = JWT
    return patterns


def find_leaks(texts: list[tuple[str, str]], patterns: dict[str, re.Pattern[str]]) -> list[str]:
    """Every (where, what) pair in which a forbidden pattern occurs."""
    return [
        f"{what} in {where}"
        for where, text in texts
        for what, pattern in patterns.items()
        if pattern.search(text)
    ]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with physician_world("privacy", {LABEL: (50.0, 110.0, 0.5, 0.15), "Other": None}) as world:
        world.submit(LABEL, *NORMAL_READING)
        world.wait_decided(LABEL, 1)
        yield world


def test_the_leak_finder_can_fail(world: World) -> None:
    patterns = forbidden(world)
    bpm, score = ABNORMAL_READING
    sk = world.pair.private_key
    for text in (
        f"<td>{bpm} bpm</td>",
        f'{{"hr":{round(bpm * 10)}}}',
        f"score {score}",
        f"p={int(sk.p)}",
        f"q=0x{int(sk.q):x}",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkci5icm93c2VyIn0.sig",
    ):
        assert find_leaks([("sample", text)], patterns), text
    assert not find_leaks([("sample", "Abnormal: 1 of 2 readings at 12:03:57")], patterns)


def test_dashboard_never_shows_or_sends_a_value_or_a_key(page: Page, world: World) -> None:
    texts: list[tuple[str, str]] = []

    def record(route: Route) -> None:
        """Every request and response passes through here (the event stream is recorded
        in the page, as its response never ends)."""
        request = route.request
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        texts.append((f"request {request.method} {request.url}", f"{request.url}\n{headers}"))
        if request.post_data:
            texts.append((f"request body {request.url}", request.post_data))
        if request.url.endswith("/events"):
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        texts.append((f"response headers {request.url}", headers))
        texts.append((f"response body {request.url}", response.text()))
        route.fulfill(response=response)

    page.expose_function("__hrmonRecord", lambda text: texts.append(("event stream", text)))
    page.add_init_script(RECORD_EVENTS)
    page.route("**/*", record)

    def snapshot(step: str) -> None:
        texts.append((f"HTML of {step}", page.content()))

    with running_dashboard(world, "privacy-dashboard") as url:
        sign_in(page, url)
        wait_live(page)
        snapshot("patient list")

        world.submit(LABEL, *ABNORMAL_READING)
        alert = page.locator("#live-alerts .alert")
        expect(alert).to_contain_text(LABEL, timeout=UI_TIMEOUT_MS * 3)
        snapshot("live alert")

        alert.get_by_role("link", name=LABEL).click()
        expect(page.locator("#tallies")).to_contain_text("all time")
        expect(page.locator("svg.chart rect.bar-abnormal")).to_have_count(1)
        snapshot("history")

        # The exports and the alert inbox carry verdicts and times only.
        patient_path = page.url.removeprefix(url)
        for kind in ("csv", "alerts.csv", "fhir.json"):
            export = page.request.get(f"{url}{patient_path}/export.{kind}?period=all")
            assert export.ok, kind
            texts.append((f"export {kind}", export.text()))
        page.get_by_role("link", name="Alerts").first.click()
        expect(page.locator("#open-alerts")).to_contain_text(LABEL)
        snapshot("alert inbox")
        page.go_back()

        page.get_by_role("link", name="Edit healthy range").click()
        for field, value in zip(
            ("Lowest healthy rate (bpm)", "Highest healthy rate (bpm)"), RANGE_FORM, strict=False
        ):
            page.get_by_label(field).fill(value)
        page.get_by_label("Abnormality threshold (probability)").fill(RANGE_FORM[2])
        page.get_by_label("Rhythm irregularity threshold (index)").fill(RANGE_FORM[3])
        page.get_by_role("button", name="Encrypt and save").click()
        expect(page.get_by_role("status").first).to_contain_text("saved")
        snapshot("range saved")

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        snapshot("signed out")
        # Stop recording before the dashboard stops: a late request (the favicon) would
        # otherwise be fetched through `record` from a server that is gone.
        page.unroute_all(behavior="ignoreErrors")

    # The capture is real: it holds the pages, the form posts and the live verdict.
    joined = "\n".join(text for _, text in texts)
    assert LABEL in joined and "csrf_token=" in joined
    assert any(where == "event stream" and '"verdict":"abnormal"' in t for where, t in texts)
    assert sum(where.startswith("response body") for where, _ in texts) >= 5
    assert any(
        where == "export fhir.json" and '"code":"A"' in t.replace(" ", "") for where, t in texts
    )

    patterns = forbidden(world)
    # A's result ciphertexts (Enc_pkD(bit)) stay in the dashboard process too.
    for row in world.results(LABEL):
        if row.result:
            patterns[f"result ciphertext {row.reading_id}"] = re.compile(re.escape(row.result[:40]))
    assert find_leaks(texts, patterns) == []
