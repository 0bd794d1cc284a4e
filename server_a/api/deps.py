"""Dependencies of the routes, as ``Annotated`` aliases (FastAPI full-stack template style)."""

from __future__ import annotations

import hmac
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from server_a.core.security import (
    AccessToken,
    InvalidToken,
    device_token_hash,
    read_access_token,
)
from server_a.models import Patient, Physician
from server_a.ratelimit import retry_after
from server_a.services import Services

_physician_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
_device_bearer = HTTPBearer(auto_error=False, description="device_token from patient enrolment")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def unauthorized(detail: str, scheme: str = "Bearer") -> HTTPException:
    """401 with the challenge the client should answer."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": scheme}
    )


def current_access(
    services: ServicesDep, token: Annotated[str | None, Depends(_physician_bearer)]
) -> AccessToken:
    """A valid access token's claims (401 otherwise)."""
    if not token:
        raise unauthorized("missing bearer access token")
    try:
        return read_access_token(token, services.settings.jwt_secret)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None


CurrentAccess = Annotated[AccessToken, Depends(current_access)]


def current_physician(services: ServicesDep, access: CurrentAccess) -> Physician:
    """The physician named by a valid access token (401 otherwise)."""
    physician = services.storage.physician(access.physician_id)
    if physician is None:
        raise unauthorized("access token names no physician")
    return physician


CurrentPhysician = Annotated[Physician, Depends(current_physician)]


def client_address(request: Request) -> str:
    """The peer's address, the key of the per-client throttles ("unknown" without one)."""
    return request.client.host if request.client is not None else "unknown"


def too_many(what: str, wait_s: float) -> HTTPException:
    """429 saying what was too much and when to retry (``Retry-After``, whole seconds)."""
    seconds = retry_after(wait_s)
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{what}; retry in {seconds} s",
        headers={"Retry-After": seconds},
    )


def rate_limited_device(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> str:
    """The id of the patient a device token is bound to (401 otherwise), if the device's
    bucket has a token left (429 otherwise). One dependency, so one hop to a thread per
    reading; only the id is read, not the patient's row."""
    if credentials is None or not credentials.credentials:
        raise unauthorized("missing bearer device token")
    patient_id = services.storage.device_patient_id(device_token_hash(credentials.credentials))
    if patient_id is None:
        raise unauthorized("unknown device token")
    wait = services.device_buckets.take(patient_id)
    if wait > 0:
        raise too_many("rate limit: too many readings from this device", wait)
    return patient_id


LimitedDevice = Annotated[str, Depends(rate_limited_device)]
"""The patient id of a device that authenticated and is within its submission rate."""


def owned_patient(patient_id: UUID, physician: CurrentPhysician, services: ServicesDep) -> Patient:
    """The patient, if it is this physician's: 404 unknown id, 403 someone else's."""
    patient = services.storage.patient(str(patient_id))
    if patient is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="patient_id: no such patient")
    if patient.physician_id != physician.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="patient_id: not your patient")
    return patient


OwnedPatient = Annotated[Patient, Depends(owned_patient)]


def operator(
    services: ServicesDep,
    token: Annotated[str | None, Header(alias="X-Enrolment-Token")] = None,
) -> None:
    """Only the operator, who holds the enrolment token, may enrol physicians."""
    expected = services.settings.enrolment_token.encode()
    if not token or not hmac.compare_digest(token.strip().encode(), expected):
        raise unauthorized("missing or wrong X-Enrolment-Token", 'Token realm="enrolment"')


Operator = Annotated[None, Depends(operator)]
