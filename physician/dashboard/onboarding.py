"""The dashboard's onboarding pages: add a patient, invite their device (one-time code
and QR code), revoke a device."""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from client.api import ServerAClient
from client.enrolment import Invitation
from client.errors import ApiError
from client.web.basics import same_token
from physician.cli import pinned_system_key
from physician.dashboard.routes import (
    FORM_TEXT_LIMIT,
    DashboardState,
    SignedIn,
    State,
    patient_list,
    patient_or_404,
    redirect,
    render,
    server_a,
)
from physician.dashboard.sessions import Session

router = APIRouter()

LABEL_MAX_CHARS = 100  # server A's limit too


@router.post("/patients", response_class=HTMLResponse)
def add_patient(
    request: Request,
    state: State,
    session: SignedIn,
    label: Annotated[str, Form(max_length=FORM_TEXT_LIMIT)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Add a patient and go straight to handing their device its invitation."""
    label = " ".join(label.split())
    error, status_code = None, 422
    if not same_token(session.csrf_token, csrf_token):
        error, status_code = "The form had expired. Please add the patient again.", 400
    elif not label:
        error = "Enter the patient's label (a name or a reference you will recognise)."
    elif len(label) > LABEL_MAX_CHARS:
        error = f"The label is {len(label)} characters; at most {LABEL_MAX_CHARS}."
    if error is None:
        with server_a(state, session) as api:
            try:
                created = api.add_patient(label)  # its token is dropped: the device gets its own
            except ApiError as exc:
                if exc.status_code != 409:
                    raise
                error = f"You already have a patient labelled “{label}”; labels must differ."
            else:
                return device_invitation_page(request, state, session, api, created.patient_id)
    return patient_list(
        request, state, session, status_code=status_code, new_label=label, add_error=error
    )


def device_invitation_page(
    request: Request,
    state: DashboardState,
    session: Session,
    api: ServerAClient,
    patient_id: str,
) -> Response:
    """A fresh one-time invitation for the patient's next device, as text and QR code.

    Shown once, in the answer to a POST (never a page to bookmark): the code is a
    credential until the device redeems it."""
    patient = patient_or_404(api, state, patient_id)
    system = pinned_system_key(api, state.config.profile)
    code = api.new_enrolment_code(patient_id)
    text = Invitation(state.config.profile.server, system.key_id, code.code).encode()
    page = render(
        request,
        state,
        session,
        "invitation.html",
        status_code=201,
        patient=patient,
        invitation=text,
        qr=qr_svg(text),
        expires_at=code.expires_at,
    )
    page.headers["Cache-Control"] = "no-store"
    return page


def qr_svg(text: str) -> Markup:
    """The QR code of ``text`` as inline SVG, made here (segno; no network, no image URL)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(
        out, kind="svg", scale=4, border=4, xmldecl=False, title="Enrolment QR code"
    )
    # segno writes only path data and the fixed title: no text of ours but base64url
    return Markup(out.getvalue().decode("utf-8"))  # noqa: S704


@router.get("/patients/{patient_id}/device", response_class=HTMLResponse)
def device_page(request: Request, state: State, session: SignedIn, patient_id: str) -> Response:
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
    return render(request, state, session, "device.html", patient=patient)


@router.post("/patients/{patient_id}/device/invitation", response_class=HTMLResponse)
def new_invitation(
    request: Request,
    state: State,
    session: SignedIn,
    patient_id: str,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    if not same_token(session.csrf_token, csrf_token):
        session.notice = "The form had expired. No invitation was made; please try again."
        return redirect(f"/patients/{patient_id}/device", session)
    with server_a(state, session) as api:
        return device_invitation_page(request, state, session, api, patient_id)


@router.post("/patients/{patient_id}/device/revoke")
def revoke_device(
    state: State,
    session: SignedIn,
    patient_id: str,
    confirm: Annotated[str, Form(max_length=8)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Stop the patient's current device at once (a new token that nobody is given)."""
    if not same_token(session.csrf_token, csrf_token) or confirm != "yes":
        session.notice = "Nothing was revoked: tick the box to confirm, then revoke."
        return redirect(f"/patients/{patient_id}/device", session)
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
        api.replace_device_token(patient_id)  # the new token is dropped unseen
    session.notice = (
        f"The device of {patient.label} is revoked: server A refuses it from now on. "
        "Make an invitation to enrol a new one."
    )
    return redirect(f"/patients/{patient_id}/device", session)
