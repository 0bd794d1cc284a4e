"""Server A's authentication to server B: HMAC-SHA256 over ``timestamp + "." + raw body``.

Server A signs with :func:`signature_headers`; server B checks with :func:`verify`.
The A-B secret is the text of the ``ab_secret`` file, used as UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-HRMon-Timestamp"
SIGNATURE_HEADER = "X-HRMon-Signature"
MAX_CLOCK_SKEW_S = 60


class SignatureError(ValueError):
    """The request is not from server A (missing, stale or wrong signature)."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256(secret, timestamp + "." + body)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The two headers server A sends with ``body``."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_skew_s: int = MAX_CLOCK_SKEW_S,
) -> None:
    """Accept only a fresh signature by the holder of ``secret``.

    Raises:
        SignatureError: saying which check failed (never echoing the values).
    """
    if not timestamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not unix seconds")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > max_skew_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {max_skew_s} s from server time")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
