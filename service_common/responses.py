"""The error answers of both servers as OpenAPI documents them: one body shape
(``{"detail": ...}``, FastAPI's) and one sentence per status, so every route can list the
statuses it really answers (``tests/test_schemathesis.py`` checks each answer it gets
against that list)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    """Every refusal: ``detail`` names the field or the reason (a list for 422s)."""

    detail: str | list[Any]


DESCRIPTIONS: dict[int, str] = {
    401: "missing, expired or wrong credential (WWW-Authenticate names the scheme)",
    403: "authenticated, but not allowed: the patient is another physician's",
    404: "no such resource",
    409: "conflicts with what is stored (a taken label or username, a replayed id)",
    413: "body larger than the server accepts",
    422: "a field is missing, malformed or out of its bounds; detail names it",
    429: "too many requests; Retry-After says when to try again",
    503: "not ready (database, key files or the other server unreachable)",
}
EXAMPLES: dict[int, str] = {
    401: "missing bearer access token",
    403: "patient_id: not your patient",
    404: "patient_id: no such patient",
    409: "label: you already have a patient labelled 'Ada'",
    413: "body larger than 262144 bytes",
    422: "since: after until",
    429: "rate limit: too many readings from this device; retry in 2 s",
    503: "not ready",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route that can answer ``codes``."""
    return {
        code: {
            "model": ErrorOut,
            "description": DESCRIPTIONS[code],
            "content": {"application/json": {"example": {"detail": EXAMPLES[code]}}},
        }
        for code in codes
    }
