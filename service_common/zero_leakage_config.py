"""Deployment switch and DGK key files of the zero-leakage mode, shared by A and B.

``HRMON_COMPARISON_MODE`` = ``baseline`` (default) or ``zero-leakage``; set the same value
on both servers. In zero-leakage mode B needs ``dgk_b.json`` (its DGK secret key, 0600)
and A needs ``dgk_public.json``, both in the server's key directory (or
``HRMON_DGK_KEY_FILE``); made once at setup by :func:`write_dgk_key_files`, because DGK
key generation takes a minute. A missing or weak file stops the server at start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol import dgk
from protocol.params import MIN_KEY_BITS
from service_common.keyfiles import INSECURE_TEST_MIN_BITS, KeyFileError

DGK_SECRET_FILE_NAME = "dgk_b.json"  # noqa: S105 (a file name)
DGK_PUBLIC_FILE_NAME = "dgk_public.json"
SECRET_MODE = 0o600

Mode = Literal["baseline", "zero-leakage"]


class ModeSettings(BaseSettings):
    """``HRMON_COMPARISON_MODE`` and, optionally, ``HRMON_DGK_KEY_FILE``."""

    model_config = SettingsConfigDict(env_prefix="HRMON_", extra="ignore")

    comparison_mode: Mode = "baseline"
    dgk_key_file: Path | None = Field(default=None)


@dataclass(frozen=True)
class ZeroLeakageKeys:
    """DGK keys of a server: B has the secret (and its public part), A the public key."""

    public: dgk.DgkPublicKey
    secret: dgk.DgkSecretKey | None = None

    def __repr__(self) -> str:  # never print key material
        return f"ZeroLeakageKeys(key_id={self.public.key_id}, secret={self.secret is not None})"


def _read_json(path: Path, what: str) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(
            f"{what} file {path} does not exist (zero-leakage mode needs it; see "
            "docs/zero-leakage.md)"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{what} file {path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise KeyFileError(f"{what} file {path} is not a JSON object")
    return data


def _check_size(public: dgk.DgkPublicKey, path: Path, allow_insecure_test_keys: bool) -> None:
    minimum = INSECURE_TEST_MIN_BITS if allow_insecure_test_keys else MIN_KEY_BITS
    bits = public.n.bit_length()
    if bits < minimum:
        raise KeyFileError(
            f"DGK key in {path} has {bits} bits, under {minimum}"
            " (HRMON_ALLOW_INSECURE_TEST_KEYS=1 allows small keys in tests only)"
        )


def load_dgk_secret(path: Path, *, allow_insecure_test_keys: bool) -> ZeroLeakageKeys:
    """B's DGK secret key, checked whole.

    Raises:
        KeyFileError: missing, malformed, inconsistent or too small.
    """
    try:
        secret = dgk.DgkSecretKey.from_json(_read_json(path, "DGK secret key"))
    except dgk.DgkError as exc:
        raise KeyFileError(f"DGK secret key file {path}: {exc}") from None
    _check_size(secret.public, path, allow_insecure_test_keys)
    return ZeroLeakageKeys(secret.public, secret)


def load_dgk_public(path: Path, *, allow_insecure_test_keys: bool) -> ZeroLeakageKeys:
    """A's copy of B's DGK public key.

    Raises:
        KeyFileError: missing, malformed or too small.
    """
    try:
        public = dgk.DgkPublicKey.from_json(_read_json(path, "DGK public key"))
    except dgk.DgkError as exc:
        raise KeyFileError(f"DGK public key file {path}: {exc}") from None
    _check_size(public, path, allow_insecure_test_keys)
    return ZeroLeakageKeys(public)


def zero_leakage_keys(
    key_dir: Path | None, *, secret: bool, allow_insecure_test_keys: bool
) -> ZeroLeakageKeys | None:
    """The DGK keys to run with, or None in baseline mode.

    Args:
        key_dir: the server's key directory (``HRMON_DGK_KEY_FILE`` overrides the file).
        secret: True on B (loads ``dgk_b.json``), False on A (``dgk_public.json``).
        allow_insecure_test_keys: accept keys under 2048 bits (tests only).

    Raises:
        KeyFileError: zero-leakage mode without a usable key file.
    """
    settings = ModeSettings()
    if settings.comparison_mode == "baseline":
        return None
    name = DGK_SECRET_FILE_NAME if secret else DGK_PUBLIC_FILE_NAME
    path = settings.dgk_key_file or (key_dir / name if key_dir else None)
    if path is None:
        raise KeyFileError(f"zero-leakage mode: set HRMON_DGK_KEY_FILE or a key dir with {name}")
    load = load_dgk_secret if secret else load_dgk_public
    return load(path, allow_insecure_test_keys=allow_insecure_test_keys)


def write_dgk_key_files(directory: Path, secret_key: dgk.DgkSecretKey) -> tuple[Path, Path]:
    """Write ``dgk_b.json`` (0600, for B) and ``dgk_public.json`` (for A) into ``directory``.

    Returns:
        The secret file's path and the public file's path.
    """
    secret_path = directory / DGK_SECRET_FILE_NAME
    public_path = directory / DGK_PUBLIC_FILE_NAME
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
    try:
        os.fchmod(fd, SECRET_MODE)
        os.write(fd, (json.dumps(secret_key.to_json(), indent=2) + "\n").encode())
    finally:
        os.close(fd)
    public_path.write_text(json.dumps(secret_key.public.to_json(), indent=2) + "\n")
    return secret_path, public_path
