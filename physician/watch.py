"""``hrmon physician watch``: alerts that reach a physician whose dashboard is closed.

A headless process beside sk_D, on the physician's machine: every ``--every`` seconds it
does what the dashboard does on a page load (fetch each patient's results since the alert
book's cursor, decrypt, open the alerts due, abnormal and missed readings) and sends one
notification per new alert to the physician's own hook: an HTTPS webhook (a chat or
paging service, or an e-mail gateway that takes webhooks).

Why here and not on server A: only sk_D tells an abnormal reading from a normal one, and
A must not learn which is which. The notification says "<label> has a new alert" and the
kind (abnormal reading or no readings), never a value; that message itself tells its
receiver that a reading was abnormal, so the hook is the physician's choice. A failed
delivery is retried on the next round; a delivered one is not sent again.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

import cli_help
from client.api import ServerAClient
from client.errors import AuthError, InputError, ServerUnavailable, run_command
from physician import cli as physician_cli
from physician import keys as physician_keys
from physician import profile as physician_profile
from physician.alerts import Alert, AlertBook
from physician.dashboard import views

DEFAULT_EVERY_S = 30.0
EVERY_LIMITS_S = (5.0, 3600.0)
HOOK_TIMEOUT_S = 10.0


def check_hook(url: str) -> str:
    """The hook URL, if it is HTTPS, or HTTP to this machine (a local relay).

    Raises:
        InputError: any other URL: a notification must not cross a network in the clear.
    """
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme == "https" or (parts.scheme == "http" and local):
        return url
    raise InputError("--hook must be an https:// URL (http:// only to this machine)")


def notification(alert: Alert, label: str) -> dict[str, Any]:
    """The hook's JSON body: who has a new alert and its kind; no value, no time of day."""
    return {
        "text": f"hrmon: {label} has a new alert ({alert.description.lower()})",
        "patient": label,
        "kind": alert.kind,
        "alert_id": alert.alert_id,
    }


@dataclass
class Watcher:
    """One physician's watcher: the home (sk_D, profile, alert book) and the hook."""

    home: Path
    password: str
    hook: str | None

    def __post_init__(self) -> None:
        self.book = AlertBook.in_home(self.home)
        self.decryptor = views.ResultDecryptor(physician_keys.load(self.home))
        self._api: ServerAClient | None = None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def _sync(self) -> list[views.PatientRow]:
        """The dashboard's sync, signed in once and again only when A refuses the token
        (it lasts 15 minutes): not one password hash on A per round."""
        if self._api is None:
            self._api, _ = physician_cli.login(self.home, self.password)
        api = self._api
        return views.sync_alerts(
            api, self.decryptor, self.book, views.patient_rows(api, self.decryptor),
            datetime.now(UTC),
        )  # fmt: skip

    def round(self) -> tuple[int, int]:
        """One sync and its notifications: (alerts now open, notifications delivered).

        Raises:
            AuthError: the password is refused (the watcher stops: it cannot go on).
            ServerUnavailable: A is unreachable (the caller retries next round).
        """
        signed_in = self._api is not None
        try:
            rows = self._sync()
        except AuthError:
            if not signed_in:
                raise  # the password itself was refused
            self.close()  # the token expired: sign in again, once
            rows = self._sync()
        labels = {row.patient_id: row.label for row in rows}
        open_alerts = self.book.open_total()
        if self.hook is None:
            return open_alerts, 0
        hook, delivered = self.hook, 0
        for alert in self.book.unnotified():
            label = labels.get(alert.patient_id, "a patient")
            try:
                self._post(hook, notification(alert, label))
            except httpx.HTTPError as exc:
                why = type(exc).__name__
                print(f"hook not reached ({why}); retrying next round", file=sys.stderr)
                break
            self.book.mark_notified(alert.alert_id)
            delivered += 1
        return open_alerts, delivered

    def _post(self, url: str, body: dict[str, Any]) -> None:
        response = httpx.post(url, json=body, timeout=HOOK_TIMEOUT_S)
        response.raise_for_status()


@run_command
def main(argv: list[str]) -> int:
    """``hrmon physician watch [--hook URL] [--every S] [--once]``."""
    parser = cli_help.parser(
        prog="hrmon physician watch",
        description="Open alerts without the dashboard and send each new one to your hook "
        '("<patient> has a new alert", never a value). Runs beside your key; the password '
        "comes from $HRMON_PASSWORD or a prompt.",
    )
    physician_profile.add_home_argument(parser)
    parser.add_argument("--hook", help="https:// webhook that receives one JSON POST per alert")
    parser.add_argument(
        "--every",
        type=float,
        default=DEFAULT_EVERY_S,
        help=f"seconds between rounds (default {DEFAULT_EVERY_S:g})",
    )
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)
    low, high = EVERY_LIMITS_S
    if not low <= args.every <= high:
        raise InputError(f"--every must be between {low:g} and {high:g} seconds")
    hook = None if args.hook is None else check_hook(args.hook)
    home = args.home or physician_profile.default_home()
    watcher = Watcher(home, physician_profile.password(), hook)
    try:
        return _rounds(watcher, args.every, once=args.once)
    finally:
        watcher.close()


def _rounds(watcher: Watcher, every: float, *, once: bool) -> int:
    while True:
        try:
            open_alerts, delivered = watcher.round()
            print(f"{open_alerts} open alert(s); {delivered} notification(s) sent", flush=True)
        except ServerUnavailable as exc:
            if once:
                raise
            watcher.close()  # a fresh connection next round
            print(f"{exc}; retrying in {every:g} s", file=sys.stderr, flush=True)
        if once:
            return 0
        time.sleep(every)
