"""The physician's profile: server URL, username and the pinned system key id.

Never the password: commands read it from ``$HRMON_PASSWORD`` or prompt for it.
"""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from client.errors import ConfigError
from client.local_files import read_json, write_json

PROFILE_FILE = "profile.json"
HOME_ENV_VAR = "HRMON_PHYSICIAN_HOME"
PASSWORD_ENV_VAR = "HRMON_PASSWORD"  # noqa: S105 - the variable's name, not a password


@dataclass(frozen=True)
class PhysicianProfile:
    """Where and as whom the physician logs in, and the system key they trust."""

    server: str
    username: str
    system_key_id: str


def default_home() -> Path:
    """``$HRMON_PHYSICIAN_HOME`` or ``~/.hrmon/physician``."""
    return Path(os.environ.get(HOME_ENV_VAR, Path.home() / ".hrmon" / "physician"))


def save(profile: PhysicianProfile, home: Path, *, overwrite: bool = True) -> None:
    """Write ``profile.json`` (0600: it names the account)."""
    data = {
        "server": profile.server,
        "username": profile.username,
        "system_key_id": profile.system_key_id,
    }
    write_json(home / PROFILE_FILE, data, secret=True, overwrite=overwrite)


def load(home: Path) -> PhysicianProfile:
    """Read ``profile.json``.

    Raises:
        ConfigError: missing (run enrol first) or malformed.
    """
    data = read_json(home / PROFILE_FILE, "physician profile (run `hrmon physician enrol` first)")
    try:
        return PhysicianProfile(
            str(data["server"]), str(data["username"]), str(data["system_key_id"])
        )
    except KeyError as exc:
        raise ConfigError(f"physician profile in {home} lacks {exc}") from None


def password(prompt: str = "physician password: ") -> str:
    """``$HRMON_PASSWORD`` if set, else a prompt on the terminal.

    Raises:
        ConfigError: neither is available (no terminal).
    """
    from_env = os.environ.get(PASSWORD_ENV_VAR)
    if from_env:
        return from_env
    try:
        entered = getpass.getpass(prompt)
    except (EOFError, OSError):
        raise ConfigError(f"no password: set {PASSWORD_ENV_VAR} or run from a terminal") from None
    if not entered:
        raise ConfigError("empty password")
    return entered


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    """``--home DIR``, the physician directory every physician command reads."""
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=f"physician directory (default ${HOME_ENV_VAR} or ~/.hrmon/physician)",
    )
