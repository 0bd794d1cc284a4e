"""The key directory ``hrmon setup`` makes: one list of its files, and how they are written.

Secrets are created 0600 from the start (never chmod after writing) and replaced
atomically, so a crash leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from protocol import dgk
from protocol.keys import KeyShare
from protocol.paillier import PublicKey, key_id

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644

# File names, not secrets.
SYSTEM_PUBLIC = "system_public.json"
SHARE_A = "share_a.json"
SHARE_B = "share_b.json"
AB_SECRET = "ab_secret"  # noqa: S105
JWT_SECRET = "jwt_secret"  # noqa: S105
ENROLMENT_TOKEN = "enrolment_token"  # noqa: S105
METRICS_TOKEN = "metrics_token"  # noqa: S105
DGK_SECRET = "dgk_b.json"  # noqa: S105
DGK_PUBLIC = "dgk_public.json"
RANDOM_SECRETS = (AB_SECRET, JWT_SECRET, ENROLMENT_TOKEN, METRICS_TOKEN)
SYSTEM_FILES = (SYSTEM_PUBLIC, SHARE_A, SHARE_B, *RANDOM_SECRETS)
SECRET_BYTES = 32


def write_file(path: Path, text: str, *, secret: bool, overwrite: bool = True) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (secret) or 0644.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, SECRET_MODE if secret else PUBLIC_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any], *, secret: bool, overwrite: bool = True) -> None:
    """JSON variant of :func:`write_file`."""
    write_file(path, json.dumps(data, indent=2) + "\n", secret=secret, overwrite=overwrite)


def system_public_json(public_key: PublicKey) -> dict[str, Any]:
    """What ``system_public.json`` holds: the key id clients pin, the modulus, its size."""
    n: int = public_key.n
    return {"key_id": key_id(public_key), "n": hex(n), "bits": n.bit_length()}


def write_system_files(
    directory: Path,
    system: tuple[PublicKey, KeyShare, KeyShare],
    *,
    overwrite: bool = True,
) -> None:
    """The system key's public file, both shares and the three random secrets.

    Raises:
        FileExistsError: a file exists and ``overwrite`` is False.
    """
    public_key, share_a, share_b = system
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_json(directory / SHARE_A, share_a.to_json(), secret=True, overwrite=overwrite)
    write_json(directory / SHARE_B, share_b.to_json(), secret=True, overwrite=overwrite)
    for name in RANDOM_SECRETS:
        text = secrets.token_hex(SECRET_BYTES) + "\n"
        write_file(directory / name, text, secret=True, overwrite=overwrite)
    write_json(
        directory / SYSTEM_PUBLIC, system_public_json(public_key), secret=False, overwrite=overwrite
    )


def write_dgk_key_files(directory: Path, secret_key: dgk.DgkSecretKey) -> tuple[Path, Path]:
    """Write ``dgk_b.json`` (0600, for B) and ``dgk_public.json`` (for A) into ``directory``.

    Returns:
        The secret file's path and the public file's path.
    """
    secret_path, public_path = directory / DGK_SECRET, directory / DGK_PUBLIC
    write_json(secret_path, secret_key.to_json(), secret=True)
    write_json(public_path, secret_key.public.to_json(), secret=False)
    return secret_path, public_path
