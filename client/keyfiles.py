"""Reading and writing the small JSON and secret files the client tools keep.

Secrets are created 0600 from the start (never chmod after writing) and replaced
atomically, so a crash leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from client.errors import ConfigError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


def write_file(path: Path, text: str, *, secret: bool, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (secret) or 0644.

    Raises:
        ConfigError: the file exists and ``overwrite`` is False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; refusing to overwrite it")
    mode = SECRET_MODE if secret else PUBLIC_MODE
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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
