"""A and B authenticate each other's messages with HMAC-SHA256 under the A-B secret.

Request (A -> B): ``HMAC(timestamp + "." + raw body)``; A signs with
:func:`signature_headers`, B checks with :func:`verify` (fresh within the clock window).
Answer (B -> A): ``HMAC("response." + the request's signature + "." + raw body)``; B signs
with :func:`sign_response`, A checks with :func:`verify_response`. Binding the answer to
its request's signature means a recorded answer of B cannot be replayed to another
request, and anything else listening on B's URL cannot answer at all (docs/design.md).
The two inputs cannot collide: a request's begins with digits, an answer's with "r".
The A-B secret is the text of the ``ab_secret`` file, used as UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-HRMon-Timestamp"
SIGNATURE_HEADER = "X-HRMon-Signature"
RESPONSE_SIGNATURE_HEADER = "X-HRMon-Response-Signature"
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


def sign_response(secret: bytes, request_signature: str, body: bytes) -> str:
    """Hex HMAC-SHA256(secret, "response." + request signature + "." + body)."""
    message = b"response." + request_signature.strip().lower().encode("ascii") + b"." + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_response(
    secret: bytes, request_signature: str, signature: str | None, body: bytes
) -> None:
    """Accept only B's answer to *this* request.

    Raises:
        SignatureError: the answer is unsigned or signed for another request or body.
    """
    if not signature:
        raise SignatureError(f"answer without {RESPONSE_SIGNATURE_HEADER}")
    expected = sign_response(secret, request_signature, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureError(f"{RESPONSE_SIGNATURE_HEADER} does not match this request and body")
