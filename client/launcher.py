"""Start server A and server B as real processes on loopback, for ``hrmon demo`` and tests.

:func:`write_key_dir` writes a complete key directory (the files of ``hrmon setup``);
:func:`launch_servers` starts both servers on free ports, waits for ``/readyz``, and stops
them on exit. ``LocalServers.stop``/``start`` kill and restart one server for fault tests.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from protocol.keys import KeyShare, generate_system_key
from protocol.paillier import PublicKey, key_id
from protocol.params import DEFAULT_KEY_BITS

SECRET_MODE = 0o600


def _write(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no window with wider permissions)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def write_key_dir(
    directory: Path,
    bits: int = DEFAULT_KEY_BITS,
    *,
    system: tuple[PublicKey, KeyShare, KeyShare] | None = None,
) -> Path:
    """Write every file of docs/api.md's "Files made by hrmon setup" into ``directory``.

    Args:
        directory: created 0700 if missing; existing files are replaced.
        bits: |N| of a freshly made system key (ignored when ``system`` is given).
        system: an existing (public key, share A, share B), e.g. a test's cached key.

    Returns:
        ``directory``.
    """
    public_key, share_a, share_b = system or generate_system_key(bits)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    n: int = public_key.n
    public = {"key_id": key_id(public_key), "n": hex(n), "bits": n.bit_length()}
    _write(directory / "system_public.json", json.dumps(public, indent=2) + "\n", 0o644)
    _write(directory / "share_a.json", json.dumps(share_a.to_json(), indent=2) + "\n", SECRET_MODE)
    _write(directory / "share_b.json", json.dumps(share_b.to_json(), indent=2) + "\n", SECRET_MODE)
    for name in ("ab_secret", "jwt_secret", "enrolment_token"):
        _write(directory / name, secrets.token_hex(32) + "\n", SECRET_MODE)
    return directory
