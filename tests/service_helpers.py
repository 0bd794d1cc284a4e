"""Helpers for the service tests: signing as server A, device/physician-side encryption
A's requests made by its mode object, error text."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from protocol import comparison as cmp
from protocol.ciphertext import encode_ciphertext
from protocol.keys import KeyShare
from protocol.messages import CompareRequest, PhysicianPublicKey
from protocol.modes.baseline import BaselineA
from protocol.modes.memory import jobs_for
from protocol.paillier import PublicKey, encrypt, fresh_noise, key_id
from service_common.signing import signature_headers
from tests.conftest import physician_key, system_key


def ab_secret(key_dir: Path) -> bytes:
    return (key_dir / "ab_secret").read_text().strip().encode()


def signed(key_dir: Path, body: bytes, now: float | None = None) -> dict[str, str]:
    return {"content-type": "application/json", **signature_headers(ab_secret(key_dir), body, now)}


def physician_public(pk_d: PublicKey) -> dict[str, str]:
    return {"key_id": key_id(pk_d), "n": hex(pk_d.n)}


RHO = 1500
"""The tests' irregularity threshold (q >= 0.15 is irregular) where a test gives none."""


def enc(pk: PublicKey, value: int) -> str:
    """A device or physician encrypting a small non-negative value under the system key."""
    return encode_ciphertext(pk, encrypt(pk, value))


def compare_request(
    pk: PublicKey,
    share_a: KeyShare,
    pk_d: PublicKey,
    packs: Sequence[Sequence[Sequence[int]]],
    bounds: Sequence[int],
) -> CompareRequest:
    """What server A's baseline half sends for ``packs`` of (hr, score[, q]) readings."""
    enc_bounds = encrypted_bounds(pk, bounds)
    mode = BaselineA(share_a, fresh_noise)
    out = []
    for readings in packs:
        encrypted = [encrypted_reading(pk, values) for values in readings]
        prepared = mode.prepare(jobs_for(encrypted, enc_bounds, pk_d))
        pdec1 = [encode_ciphertext(pk, share_a.partial_decrypt(c)) for c in prepared.ciphertexts]
        request = mode.request_for(prepared, [(p, None) for p in pdec1])
        assert len(request.packs) == 1
        out.extend(request.packs)
    return CompareRequest(
        system_key_id=key_id(pk),
        physician_keys=[PhysicianPublicKey(**physician_public(pk_d))],
        packs=out,
    )


def body_of(model: CompareRequest) -> bytes:
    return json.dumps(model.model_dump(mode="json")).encode()


__all__ = ["physician_key", "system_key"]


def error_text(detail: object) -> str:
    """A 4xx detail as text; FastAPI's list form with each ``loc`` written as a.b[0].c."""
    if isinstance(detail, str):
        return detail
    assert isinstance(detail, list), detail
    parts = []
    for error in detail:
        path = ""
        for step in error["loc"]:
            path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


# --- server A as a client sees it ---------------------------------------------------------

PASSWORD = "correct horse battery staple"


def enrolment_headers(key_dir: Path) -> dict[str, str]:
    return {"X-Enrolment-Token": (key_dir / "enrolment_token").read_text().strip()}


def enrol_body(username: str, pk_d: PublicKey) -> dict[str, object]:
    return {"username": username, "password": PASSWORD, "public_key": physician_public(pk_d)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def range_body(
    pk: PublicKey, low: int, high: int, threshold: int, irregularity_threshold: int = RHO
) -> dict[str, str]:
    return {
        "key_id": key_id(pk),
        "low": enc(pk, low),
        "high": enc(pk, high),
        "threshold": enc(pk, threshold),
        "irregularity_threshold": enc(pk, irregularity_threshold),
    }


def reading_body(
    pk: PublicKey,
    heart_rate: int,
    score: int,
    taken_at: datetime | None = None,
    irregularity: int = 0,
    rate_missing: int | None = 0,
) -> dict[str, str]:
    """A device's submission, encrypted with protocol functions directly (values as Z_N);
    ``rate_missing`` None: no flag at all, as from a device older than the field."""
    body = {
        "reading_id": str(uuid.uuid4()),
        "key_id": key_id(pk),
        "taken_at": (taken_at or datetime.now(UTC)).isoformat(),
        "heart_rate": enc(pk, heart_rate % pk.n),
        "score": enc(pk, score % pk.n),
        "irregularity": enc(pk, irregularity % pk.n),
    }
    if rate_missing is not None:
        body["rate_missing"] = enc(pk, rate_missing % pk.n)
    return body


def grid_around_bounds(
    low: int, high: int, threshold: int, rho: int
) -> list[tuple[int, int, int, int]]:
    """(hr, score, irregularity, rate_missing) at and next to every bound, and readings
    without a heart rate (m = 1, hr = 0) around the score's and the rhythm's bounds."""
    middle = (low + high) // 2
    heart_rates = [0, *range(low - 2, low + 3), middle, *range(high - 2, high + 3), 32767]
    scores = [0, *range(threshold - 2, threshold + 3), 10000]
    rhythms = [0, rho - 1, rho, rho + 1, 10000]
    values = [(hr, s, 0, 0) for hr, s in itertools.product(heart_rates, scores)]
    values += [(hr, 10, q, 0) for hr in (low - 1, low, middle, high, high + 1) for q in rhythms]
    values += [(middle, s, q, 0) for s in (threshold - 1, threshold) for q in rhythms]
    return values + [(0, s, q, 1) for s in scores for q in (0, rho - 1, rho)]


def expected_bit(
    hr: int,
    score: int,
    low: int,
    high: int,
    threshold: int,
    irregularity: int = 0,
    irregularity_threshold: int = RHO,
    rate_missing: int = 0,
) -> int:
    out_of_range = not rate_missing and not low <= hr <= high
    return int(out_of_range or score >= threshold or irregularity >= irregularity_threshold)


def encrypted_reading(pk: PublicKey, values: Sequence[int]) -> cmp.EncryptedReading:
    """E(hr), E(s), E(q), E(m) for (hr, s), (hr, s, q) or (hr, s, q, m); q defaults to 0,
    "not judged", m to 0, "rate found"."""
    hr, score, *rest = values
    irregularity, rate_missing = (*rest, 0, 0)[:2]
    return cmp.EncryptedReading(
        *(encrypt(pk, v % pk.n) for v in (hr, score, irregularity, rate_missing))
    )


def encrypted_bounds(pk: PublicKey, values: Sequence[int]) -> cmp.EncryptedBounds:
    """E(lo), E(hi), E(tau), E(rho) for 3 or 4 values; rho defaults to :data:`RHO`."""
    low, high, threshold, *rest = values
    return cmp.EncryptedBounds(*(encrypt(pk, v) for v in (low, high, threshold, *(rest or [RHO]))))
