"""Loading the services' key files: a key share and the small secret files made by setup.

Shared by both services (server A loads the same kinds of file). Errors name the file and
what is wrong, never its contents.
"""

from __future__ import annotations

import json
from pathlib import Path

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
