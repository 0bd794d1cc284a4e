"""Physician enrolment (operator only) and sign-in."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from protocol.messages import PhysicianEnrol, PhysicianOut, TokenOut
from server_a.api.deps import Operator, ServicesDep, client_address, too_many, unauthorized
from server_a.core.security import create_access_token, hash_password, verify_password
from server_a.login_throttle import HashesBusy
from server_a.storage import Conflict
from server_a.validation import InputRejected, check_physician_key
from service_common.responses import errors

router = APIRouter(tags=["physicians"])


@router.post("/v1/physicians", status_code=status.HTTP_201_CREATED, responses=errors(401, 409, 413))
def enrol_physician(body: PhysicianEnrol, _: Operator, services: ServicesDep) -> PhysicianOut:
    """Register a physician and their pk_D (needs the operator's enrolment token)."""
    try:
        n_hex = check_physician_key(body.public_key, services.settings.allow_insecure_test_keys)
    except InputRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    try:
        physician = services.storage.add_physician(
            body.username, hash_password(body.password), n_hex, body.public_key.key_id
        )
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return PhysicianOut(physician_id=UUID(physician.id))


@router.post("/v1/auth/token", responses=errors(401, 413, 429))
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, services: ServicesDep
) -> TokenOut:
    """OAuth2 password flow: a 15-minute JWT for a physician (throttled: 429)."""
    throttle = services.login_throttle
    client = client_address(request)
    wait = throttle.admit(form.username, client)
    if wait > 0:
        raise too_many("too many sign-in attempts", wait)
    physician = services.storage.physician_by_username(form.username)
    stored = physician.password_hash if physician is not None else None
    try:
        with throttle.hashing():
            valid = verify_password(form.password, stored)
    except HashesBusy:
        raise too_many("server busy with sign-ins", 1.0) from None
    if not valid or physician is None:
        throttle.failed(form.username)
        raise unauthorized("wrong username or password")
    minutes = services.settings.access_token_minutes
    token = create_access_token(physician.id, services.settings.jwt_secret, minutes)
    return TokenOut(access_token=token, expires_in=minutes * 60)
