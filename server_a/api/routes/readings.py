"""Readings from patients' devices."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Response, status

from protocol.messages import READING_CIPHERTEXTS, ReadingAccepted, ReadingIn
from server_a.api.deps import LimitedDevice, ServicesDep
from server_a.storage import Conflict, NewReading, now
from server_a.validation import InputRejected, check_system_ciphertexts
from service_common.responses import errors

router = APIRouter(tags=["readings"])
MAX_FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of A's clock a device's ``taken_at`` may be (clock drift)."""


@router.post(
    "/v1/readings",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": ReadingAccepted, "description": "replay of a stored reading"},
        **errors(401, 409, 413, 429),
    },
)
def submit_reading(
    body: ReadingIn, patient_id: LimitedDevice, services: ServicesDep, response: Response
) -> ReadingAccepted:
    """Store E(hr), E(score), E(irregularity), E(rate_missing) before answering; a replay
    with the same content gets 200."""
    if body.taken_at > now() + MAX_FUTURE_SKEW:
        # a reading dated ahead would stand as the patient's latest, hiding real ones
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"taken_at: more than {MAX_FUTURE_SKEW.seconds // 60} minutes in the future",
        )
    try:
        check_system_ciphertexts(
            services.system_key,
            body.key_id,
            {  # rate_missing may be absent (a device from before the field)
                name: value
                for name in READING_CIPHERTEXTS
                if (value := getattr(body, name)) is not None
            },
        )
    except InputRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    new = NewReading(
        reading_id=str(body.reading_id),
        patient_id=patient_id,
        key_id=body.key_id,
        taken_at=body.taken_at,
        heart_rate=body.heart_rate,
        score=body.score,
        irregularity=body.irregularity,
        rate_missing=body.rate_missing,
    )
    try:
        _, created = services.storage.add_reading(new)
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    if created:
        services.worker.wake()
    else:
        response.status_code = status.HTTP_200_OK
    return ReadingAccepted(reading_id=body.reading_id)
