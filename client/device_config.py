"""The device's configuration and credential file, written by ``hrmon physician add-patient``.

``{"server", "patient_id", "device_token", "system_key": {"key_id", "n", "bits"}}``, 0600.
The device encrypts only under this pinned system key and checks that server A serves it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.errors import ConfigError
from client.local_files import read_json, write_json
from client.system_key import SystemPublicKey

ENV_VAR = "HRMON_DEVICE_CONFIG"
_KIND = "hrmon-device"


@dataclass(frozen=True)
class DeviceConfig:
    """Where to send readings, with which credential, under which key."""

    server: str
    patient_id: str
    device_token: str
    system_key: SystemPublicKey

    def __repr__(self) -> str:
        return (
            f"DeviceConfig(server={self.server!r}, patient_id={self.patient_id!r}, "
            f"device_token=<secret>, key_id={self.system_key.key_id})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "server": self.server,
            "patient_id": self.patient_id,
            "device_token": self.device_token,
            "system_key": self.system_key.to_json(),
        }


def refuse_existing(path: Path) -> None:
    """Stop before a new device token is made if its file could not be written: the token
    would be spent (the old device's refused) and the new one lost.

    Raises:
        ConfigError: ``path`` exists; a device file is never overwritten.
    """
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite a device file")


def save(config: DeviceConfig, path: Path, *, overwrite: bool = False) -> None:
    """Write the file 0600 (it holds the device token)."""
    write_json(path, config.to_json(), secret=True, overwrite=overwrite)


def load(path: Path) -> DeviceConfig:
    """Read a device file written by :func:`save`.

    Raises:
        ConfigError: missing or malformed.
    """
    data = read_json(path, "device configuration (from `hrmon physician add-patient`)")
    try:
        if data.get("kind") != _KIND:
            raise ValueError
        return DeviceConfig(
            server=str(data["server"]),
            patient_id=str(data["patient_id"]),
            device_token=str(data["device_token"]),
            system_key=SystemPublicKey.from_json(data["system_key"], f"{path} system_key"),
        )
    except (KeyError, ValueError, TypeError):
        raise ConfigError(f"{path} is not an hrmon device configuration") from None


def default_path() -> Path:
    """``$HRMON_DEVICE_CONFIG`` or ``~/.hrmon/device.json``."""
    return Path(os.environ.get(ENV_VAR, Path.home() / ".hrmon" / "device.json"))


def add_path_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``, the device file every device command reads."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"device file from add-patient (default ${ENV_VAR} or ~/.hrmon/device.json)",
    )
