"""Credentials: argon2 password hashes, HS256 access tokens, hashed device tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server_a.storage import now

JWT_ALGORITHM = "HS256"
_hasher = PasswordHasher()


class InvalidToken(ValueError):
    """An access token is missing, expired, forged or of the wrong kind."""


def hash_password(password: str) -> str:
    """argon2id hash with a fresh salt."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Check ``password``; with no stored hash (unknown user) hash anyway so timing is uniform."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(physician_id: str, secret: str, minutes: int) -> str:
    """A JWT naming the physician, valid for ``minutes``."""
    issued = now()
    claims = {
        "sub": physician_id,
        "typ": "access",
        "iat": issued,
        "exp": issued + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


@dataclass(frozen=True)
class AccessToken:
    """What a valid access token says: whose it is, and until when (unix seconds)."""

    physician_id: str
    expires_at: float


def read_access_token(token: str, secret: str) -> AccessToken:
    """The physician a valid access token names, and its expiry.

    Raises:
        InvalidToken: expired, bad signature, malformed or not an access token.
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        raise InvalidToken("access token is invalid or expired") from None
    subject = claims.get("sub")
    if claims.get("typ") != "access" or not isinstance(subject, str):
        raise InvalidToken("not an access token")
    return AccessToken(subject, float(claims["exp"]))


def new_device_token() -> str:
    """A fresh device token (shown once to the physician)."""
    return secrets.token_urlsafe(32)


def device_token_hash(token: str) -> str:
    """What A stores and looks tokens up by: SHA-256 hex (the token has 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


ENROLMENT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
ENROLMENT_CODE_CHARS = 16  # 80 random bits


def new_enrolment_code() -> str:
    """A one-time enrolment code, grouped for reading aloud: ``XXXX-XXXX-XXXX-XXXX``."""
    chars = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_CODE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, ENROLMENT_CODE_CHARS, 4))


def enrolment_code_hash(code: str) -> str:
    """SHA-256 hex of the code as typed, case, spaces and dashes ignored (80 random bits:
    no salt or slow hash needed, as for device tokens)."""
    canonical = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
