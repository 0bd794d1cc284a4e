"""The dashboard's alert pages: the inbox, acknowledging, a patient's missed-reading period."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from client.web.basics import same_token
from physician.alerts import NOTE_MAX_CHARS, AlertError
from physician.dashboard import views
from physician.dashboard.routes import (
    FORM_TEXT_LIMIT,
    SignedIn,
    State,
    patient_or_404,
    patient_page,
    redirect,
    render,
    server_a,
    synced_rows,
)

router = APIRouter()


@router.get("/alerts", response_class=HTMLResponse)
def alerts_inbox(request: Request, state: State, session: SignedIn) -> Response:
    with server_a(state, session) as api:
        rows = synced_rows(api, state)
    return render(
        request,
        state,
        session,
        "alerts.html",
        open_alerts=views.alert_rows(state.alerts.open_alerts(), rows),
        acknowledged=[
            row
            for row in views.alert_rows(state.alerts.history(limit=50), rows)
            if not row.alert.is_open
        ],
        note_max=NOTE_MAX_CHARS,
        live=True,
    )


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    state: State,
    session: SignedIn,
    alert_id: int,
    note: Annotated[str, Form(max_length=FORM_TEXT_LIMIT)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    if not same_token(session.csrf_token, csrf_token):
        session.notice = "The form had expired. Nothing was acknowledged; please try again."
        return redirect("/alerts", session)
    try:
        state.alerts.acknowledge(alert_id, session.username or "unknown", note)
    except AlertError as exc:
        session.notice = f"Not acknowledged: {exc}."
    else:
        session.notice = "Alert acknowledged. It stays in the patient's alert history."
    return redirect("/alerts", session)


@router.post("/patients/{patient_id}/missed-period", response_class=HTMLResponse)
def set_missed_period(
    request: Request,
    state: State,
    session: SignedIn,
    patient_id: str,
    hours: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
    if not same_token(session.csrf_token, csrf_token):
        return patient_page(
            request,
            state,
            session,
            patient_id,
            status_code=400,
            missed_value=hours,
            missed_error="The form had expired. Please save again.",
        )
    text = hours.strip().replace(",", ".")
    try:
        value = None if not text else float(text)
        if value is not None and not math.isfinite(value):
            raise ValueError
        state.alerts.set_missed_after_hours(patient_id, value)
    except ValueError as exc:
        message = (
            str(exc) if isinstance(exc, AlertError) else "the period must be a number of hours"
        )
        return patient_page(
            request,
            state,
            session,
            patient_id,
            status_code=422,
            missed_value=hours,
            missed_error=f"Not saved: {message}.",
        )
    session.notice = f"Missed-reading alert for {patient.label}: " + (
        "off." if value is None else f"after {value:g} hours without a reading."
    )
    return redirect(f"/patients/{patient_id}", session)
