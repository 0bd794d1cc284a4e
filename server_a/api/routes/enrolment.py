"""Enrolling a device by a one-time code: the physician asks for a code, the device
redeems it for the patient's device token.

The code travels from the physician's screen to the device (typed, or as a QR code),
never through A in the clear after it is made: A keeps its SHA-256 and its expiry only.
Redeeming binds a *new* device token, so the patient's previous device, if any, is
refused from then on (enrolling a device replaces the old one), and spends the code.
Unauthenticated by nature, so each client is throttled like a sign-in, and an unknown,
spent or expired code all get the same 404.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status

from protocol.messages import DeviceEnrolIn, EnrolmentCodeOut, PatientCreated
from server_a.api.deps import OwnedPatient, ServicesDep, client_address, too_many
from server_a.core.security import (
    device_token_hash,
    enrolment_code_hash,
    new_device_token,
    new_enrolment_code,
)
from server_a.storage import now
from service_common.responses import errors

router = APIRouter(tags=["devices"])

ENROLMENT_CODE_TTL = timedelta(hours=24)


@router.post(
    "/v1/patients/{patient_id}/enrolment-code",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 413),
)
def new_code(patient: OwnedPatient, services: ServicesDep) -> EnrolmentCodeOut:
    """A one-time code for the patient's next device, valid 24 hours; asking again
    replaces the earlier code. The current device keeps working until a code is redeemed."""
    code = new_enrolment_code()
    expires_at = now() + ENROLMENT_CODE_TTL
    services.storage.set_enrolment_code(patient.id, enrolment_code_hash(code), expires_at)
    return EnrolmentCodeOut(patient_id=UUID(patient.id), code=code, expires_at=expires_at)


@router.post(
    "/v1/device-enrolment",
    responses=errors(404, 413, 429),
)
def redeem(body: DeviceEnrolIn, request: Request, services: ServicesDep) -> PatientCreated:
    """Redeem an enrolment code: the patient id and a new device token (shown once)."""
    client = client_address(request)
    wait = services.login_throttle.by_client.take(client)
    if wait > 0:
        raise too_many("too many enrolment attempts", wait)
    token = new_device_token()
    patient = services.storage.redeem_enrolment_code(
        enrolment_code_hash(body.code), device_token_hash(token), now()
    )
    if patient is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="code: unknown, already used or expired"
        )
    return PatientCreated(patient_id=UUID(patient.id), device_token=token)
