"""Reading and writing the small JSON and secret files the client tools keep.

Writing is ``service_common.key_dir``'s (0600 from the start, atomic); here it refuses
to replace a file unless told to, with the client's error type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from client.errors import ConfigError
from service_common import key_dir


def write_file(path: Path, text: str, *, secret: bool, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (secret) or 0644.

    Raises:
        ConfigError: the file exists and ``overwrite`` is False.
    """
    try:
        key_dir.write_file(path, text, secret=secret, overwrite=overwrite)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite it") from None


def write_json(path: Path, data: dict[str, Any], *, secret: bool, overwrite: bool = False) -> None:
    """JSON variant of :func:`write_file`."""
    write_file(path, json.dumps(data, indent=2) + "\n", secret=secret, overwrite=overwrite)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Load a JSON object, naming ``what`` it should be when it is missing or malformed.

    Raises:
        ConfigError: missing, unreadable, not JSON, or not an object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} at {path} is unreadable: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} at {path} is not a JSON object")
    return data


def read_secret_text(path: Path, what: str) -> str:
    """A one-line secret file (token, HMAC secret), stripped.

    Raises:
        ConfigError: missing, unreadable or empty.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} at {path} is unreadable: {type(exc).__name__}") from None
    if not text:
        raise ConfigError(f"{what} at {path} is empty")
    return text
