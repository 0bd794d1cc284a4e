"""Loading the services' key files: a key share, the small secret files made by setup and
the zero-leakage mode's DGK keys.

Shared by both services (the file names are ``service_common.key_dir``'s). Errors name the file and
what is wrong, never its contents.
"""

from __future__ import annotations

import json
from pathlib import Path

from protocol import dgk
from protocol.keys import KeyShare, ShareError
from protocol.params import MIN_KEY_BITS

INSECURE_TEST_MIN_BITS = 512
"""Below this not even one reading's three slots fit a ciphertext."""

PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "secret", "password", "test"})
MIN_SECRET_CHARS = 32


class KeyFileError(ValueError):
    """A key or secret file is missing, malformed or too weak; the service refuses to start."""


def minimum_key_bits(allow_insecure_test_keys: bool) -> int:
    """Smallest accepted modulus: 2048 bits, or 512 when test keys are allowed by name."""
    return INSECURE_TEST_MIN_BITS if allow_insecure_test_keys else MIN_KEY_BITS


def load_share(path: Path, index: int, *, allow_insecure_test_keys: bool) -> KeyShare:
    """Read a ``KeyShare`` file and check it is this server's share of a large enough key.

    Raises:
        KeyFileError: missing, malformed, the other server's share, or a short modulus.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        share = KeyShare.from_json(data)
    except FileNotFoundError:
        raise KeyFileError(f"key share file {path} does not exist") from None
    except (OSError, ValueError, ShareError, TypeError) as exc:
        kind = type(exc).__name__
        raise KeyFileError(f"key share file {path} is unreadable or malformed ({kind})") from None
    if share.index != index:
        raise KeyFileError(f"{path} holds share {share.index}; this server needs share {index}")
    bits = share.n.bit_length()
    minimum = minimum_key_bits(allow_insecure_test_keys)
    if bits < minimum:
        raise KeyFileError(
            f"system key in {path} has {bits} bits, under {minimum}"
            " (HRMON_ALLOW_INSECURE_TEST_KEYS=1 allows small keys in tests only)"
        )
    return share


def load_secret(path: Path, name: str, min_chars: int = MIN_SECRET_CHARS) -> str:
    """Read a one-line secret file (surrounding whitespace dropped).

    Raises:
        KeyFileError: missing, a known placeholder, too short, or one repeated character.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise KeyFileError(f"{name} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError):
        raise KeyFileError(f"{name} file {path} is unreadable") from None
    if text.lower() in PLACEHOLDER_SECRETS or len(set(text)) < 2:
        raise KeyFileError(f"{name} in {path} is a placeholder; run `hrmon setup`")
    if len(text) < min_chars:
        raise KeyFileError(f"{name} in {path} is shorter than {min_chars} characters")
    return text


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
    minimum = minimum_key_bits(allow_insecure_test_keys)
    bits = public.n.bit_length()
    if bits < minimum:
        raise KeyFileError(
            f"DGK key in {path} has {bits} bits, under {minimum}"
            " (HRMON_ALLOW_INSECURE_TEST_KEYS=1 allows small keys in tests only)"
        )


def load_dgk_secret(path: Path, *, allow_insecure_test_keys: bool) -> dgk.DgkSecretKey:
    """B's DGK secret key, checked whole.

    Raises:
        KeyFileError: missing, malformed, inconsistent or too small.
    """
    try:
        secret = dgk.DgkSecretKey.from_json(_read_json(path, "DGK secret key"))
    except dgk.DgkError as exc:
        raise KeyFileError(f"DGK secret key file {path}: {exc}") from None
    _check_size(secret.public, path, allow_insecure_test_keys)
    return secret


def load_dgk_public(path: Path, *, allow_insecure_test_keys: bool) -> dgk.DgkPublicKey:
    """A's copy of B's DGK public key.

    Raises:
        KeyFileError: missing, malformed or too small.
    """
    try:
        public = dgk.DgkPublicKey.from_json(_read_json(path, "DGK public key"))
    except dgk.DgkError as exc:
        raise KeyFileError(f"DGK public key file {path}: {exc}") from None
    _check_size(public, path, allow_insecure_test_keys)
    return public
