"""The dashboard's pages: sign in and out, patients, a patient's history, range editing, and
the live event stream. Handlers talk to server A through :class:`client.api.ServerAClient`
with the session's token and decrypt in this process; templates get verdicts only.

About 420 lines: the core pages (sign-in, patients, history, range form, live relay)
and what every page shares (state, session, rendering, the synced patient list).
Onboarding, alerts and exports are in their own modules beside it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates

from client.api import ServerAClient
from client.encrypt import encode_range, encrypt_range
from client.errors import ApiError, AuthError, InputError, ServerUnavailable
from client.web.basics import same_token
from physician.alerts import AlertBook
from physician.cli import pinned_system_key
from physician.dashboard import views
from physician.dashboard.chart import abnormal_chart
from physician.dashboard.config import DashboardConfig
from physician.dashboard.live import LiveRelay
from physician.dashboard.sessions import COOKIE_NAME, Session, SessionStore, set_cookie
from signals.rhythm import DEFAULT_IRREGULARITY_THRESHOLD

router = APIRouter()

DEFAULT_LOW_BPM = 50.0
DEFAULT_HIGH_BPM = 110.0
FALLBACK_THRESHOLD = 0.5
BPM_LIMITS = (20.0, 300.0)
FORM_TEXT_LIMIT = 100_000  # past the pages' own length checks; a larger field is refused whole


@dataclass(frozen=True)
class DashboardState:
    """Everything the handlers share, kept on ``app.state.dashboard``."""

    config: DashboardConfig
    sessions: SessionStore
    decryptor: views.ResultDecryptor
    relay: LiveRelay
    templates: Jinja2Templates
    alerts: AlertBook


class NotSignedIn(Exception):
    """The page needs a signed-in session; the handler sends the browser to sign in."""


def get_state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state


State = Annotated[DashboardState, Depends(get_state)]


def current_session(request: Request, state: State) -> Session | None:
    return state.sessions.get(request.cookies.get(COOKIE_NAME))


def signed_in(session: Annotated[Session | None, Depends(current_session)]) -> Session:
    if session is None or not session.signed_in:
        raise NotSignedIn
    return session


MaybeSession = Annotated[Session | None, Depends(current_session)]
SignedIn = Annotated[Session, Depends(signed_in)]


@contextmanager
def server_a(state: DashboardState, session: Session) -> Iterator[ServerAClient]:
    """A server-A client carrying the session's token."""
    with ServerAClient(state.config.profile.server, session.access_token) as api:
        yield api


def render(
    request: Request,
    state: DashboardState,
    session: Session,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page with the shared context (session, CSRF token, one-shot notice)."""
    page: HTMLResponse = state.templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "csrf_token": session.csrf_token,
            "notice": session.pop_notice(),
            "server": state.config.profile.server,
            "verdict_text": views.VERDICT_TEXT,
            "format_time": views.format_time,
            "open_alert_count": state.alerts.open_total(),
            **context,
        },
        status_code=status_code,
    )
    set_cookie(page, session)
    return page


def redirect(url: str, session: Session | None = None) -> RedirectResponse:
    """303 to ``url`` (after a form post), refreshing the session cookie if given."""
    response = RedirectResponse(url, status_code=303)
    if session is not None:
        set_cookie(response, session)
    return response


# -- health -------------------------------------------------------------------------------


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


# -- sign in / sign out -------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, state: State, session: MaybeSession) -> Response:
    if session is not None and session.signed_in:
        return redirect("/", session)
    session = session or state.sessions.new()
    return render(request, state, session, "login.html", username=state.config.profile.username)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    state: State,
    session: MaybeSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    def again(message: str, status_code: int) -> Response:
        page_session = session or state.sessions.new()
        return render(
            request,
            state,
            page_session,
            "login.html",
            status_code=status_code,
            username=username or state.config.profile.username,
            error=message,
        )

    if session is None or not same_token(session.csrf_token, csrf_token):
        session = None
        return again("The sign-in form had expired. Please sign in again.", 400)
    if not username.strip() or not password:
        return again("Enter both your username and your password.", 422)
    try:
        with ServerAClient(state.config.profile.server) as api:
            token = api.login(username.strip(), password)
    except AuthError:
        return again("Wrong username or password.", 401)
    except ServerUnavailable:
        return again(unreachable_message(state), 503)
    except ApiError as exc:
        return again(f"Server A refused the sign-in: {exc}", 502)
    return redirect("/", state.sessions.sign_in(session, username.strip(), token))


@router.post("/logout")
def logout(
    state: State,
    session: MaybeSession,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    if session is None or not same_token(session.csrf_token, csrf_token):
        return redirect("/login")
    state.sessions.drop(session.session_id)
    return redirect("/login", state.sessions.new(notice="You are signed out."))


def unreachable_message(state: DashboardState) -> str:
    return (
        f"Server A at {state.config.profile.server} cannot be reached: it may be down or "
        "restarting. Nothing was changed. Try again in a moment."
    )


# -- patients -----------------------------------------------------------------------------


def synced_rows(api: ServerAClient, state: DashboardState) -> list[views.PatientRow]:
    """The patient rows after opening every alert due (abnormal and missed readings)."""
    rows = views.patient_rows(api, state.decryptor)
    return views.sync_alerts(api, state.decryptor, state.alerts, rows, datetime.now(UTC))


SearchQuery = Annotated[str, Query(max_length=100)]


@router.get("/", response_class=HTMLResponse)
def patients(request: Request, state: State, session: SignedIn, q: SearchQuery = "") -> Response:
    return patient_list(request, state, session, q)


def patient_list(
    request: Request,
    state: DashboardState,
    session: Session,
    q: str = "",
    *,
    status_code: int = 200,
    **form: str | None,
) -> Response:
    """The patient list (open alerts first, with recent abnormal counts), filtered by ``q``;
    ``form`` refills the add-a-patient form after an error."""
    with server_a(state, session) as api:
        rows = synced_rows(api, state)
        shown = views.with_recent_counts(
            api, state.decryptor, views.triage(rows, q), datetime.now(UTC)
        )
    return render(
        request,
        state,
        session,
        "patients.html",
        status_code=status_code,
        patients=shown,
        total=len(rows),
        q=q,
        live=True,
        **form,
    )


def patient_or_404(api: ServerAClient, state: DashboardState, patient_id: str) -> views.PatientRow:
    row = views.find_patient(views.patient_rows(api, state.decryptor), patient_id)
    if row is None:
        raise ApiError("no such patient among yours", 404)
    return row


def patient_page(
    request: Request,
    state: DashboardState,
    session: Session,
    patient_id: str,
    *,
    status_code: int = 200,
    missed_error: str | None = None,
    missed_value: str | None = None,
) -> Response:
    now = datetime.now(UTC)
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
        views.sync_alerts(api, state.decryptor, state.alerts, [patient], now)
        readings = views.history(api, state.decryptor, patient_id)
        tally_rows = views.tallies(api, state.decryptor, patient_id, now)
    hours = state.alerts.missed_after_hours(patient_id)
    return render(
        request,
        state,
        session,
        "patient.html",
        status_code=status_code,
        patient=patient,
        readings=readings,
        tallies=tally_rows,
        chart=abnormal_chart(readings),
        history_limit=views.HISTORY_LIMIT,
        alert_history=views.alert_rows(state.alerts.history(patient_id), [patient]),
        missed_value=missed_value
        if missed_value is not None
        else ("" if hours is None else f"{hours:g}"),
        missed_error=missed_error,
        live=True,
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_history(request: Request, state: State, session: SignedIn, patient_id: str) -> Response:
    return patient_page(request, state, session, patient_id)


# -- healthy range ------------------------------------------------------------------------


@functools.cache
def default_threshold() -> float:
    """The shipped model's threshold as the form's starting value (0.5 without a model)."""
    from signals.scoring import AbnormalityScorer

    try:
        return round(AbnormalityScorer.from_default().threshold, 4)
    except (OSError, ValueError):  # no model installed, or a malformed JSON
        return FALLBACK_THRESHOLD


@router.get("/patients/{patient_id}/range", response_class=HTMLResponse)
def range_page(request: Request, state: State, session: SignedIn, patient_id: str) -> Response:
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
    values = {
        "low": f"{DEFAULT_LOW_BPM:g}",
        "high": f"{DEFAULT_HIGH_BPM:g}",
        "threshold": f"{default_threshold():g}",
        "irregularity": f"{DEFAULT_IRREGULARITY_THRESHOLD:g}",
    }
    return render(request, state, session, "range.html", patient=patient, values=values, errors={})


PROBABILITY_FIELDS = ("threshold", "irregularity")


def parse_range_form(
    low: str, high: str, threshold: str, irregularity: str
) -> tuple[dict[str, str], list[float]]:
    """Check the four fields; returns (errors by field, parsed values)."""
    errors: dict[str, str] = {}
    parsed: list[float] = []
    for name, text, label in (
        ("low", low, "Lowest healthy heart rate"),
        ("high", high, "Highest healthy heart rate"),
        ("threshold", threshold, "Abnormality threshold"),
        ("irregularity", irregularity, "Rhythm irregularity threshold"),
    ):
        try:
            value = float(text.strip().replace(",", "."))
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            errors[name] = f"{label} must be a number."
            parsed.append(math.nan)
            continue
        if name in PROBABILITY_FIELDS and not 0.0 < value <= 1.0:
            errors[name] = f"{label} must be above 0 and at most 1."
        elif name not in PROBABILITY_FIELDS and not BPM_LIMITS[0] <= value <= BPM_LIMITS[1]:
            errors[name] = f"{label} must be between {BPM_LIMITS[0]:g} and {BPM_LIMITS[1]:g} bpm."
        parsed.append(value)
    if not errors and parsed[0] >= parsed[1]:
        errors["high"] = "Highest healthy heart rate must be above the lowest."
    return errors, parsed


@router.post("/patients/{patient_id}/range", response_class=HTMLResponse)
def save_range(
    request: Request,
    state: State,
    session: SignedIn,
    patient_id: str,
    low: Annotated[str, Form()] = "",
    high: Annotated[str, Form()] = "",
    threshold: Annotated[str, Form()] = "",
    irregularity: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    values = {"low": low, "high": high, "threshold": threshold, "irregularity": irregularity}
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
        errors, parsed = parse_range_form(low, high, threshold, irregularity)
        if not same_token(session.csrf_token, csrf_token):
            errors["form"] = "The form had expired. Please check the values and save again."
        if not errors:
            try:
                bounds = encode_range(*parsed)
            except InputError as exc:
                errors["form"] = str(exc)
        if errors:
            return render(
                request,
                state,
                session,
                "range.html",
                status_code=422 if "form" not in errors else 400,
                patient=patient,
                values=values,
                errors=errors,
            )
        system = pinned_system_key(api, state.config.profile)
        api.set_range(patient_id, encrypt_range(system, bounds))
    session.notice = (
        f"Healthy range for {patient.label} saved. It was encrypted on this computer; "
        "server A stores only ciphertexts."
    )
    return redirect(f"/patients/{patient_id}", session)


# -- live events --------------------------------------------------------------------------


@router.get("/events")
def events(state: State, session: SignedIn) -> StreamingResponse:
    token = session.access_token or ""
    server = state.config.profile.server

    def labels() -> dict[str, str]:
        with ServerAClient(server, token) as api:
            return {str(p.patient_id): p.label for p in api.list_patients()}

    return StreamingResponse(
        state.relay.browser_events(token, labels),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
