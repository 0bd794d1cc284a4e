"""A patient's exports: readings and alerts as CSV, a PDF report, a FHIR Bundle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from physician import export, report
from physician.dashboard import views
from physician.dashboard.routes import (
    SignedIn,
    State,
    patient_or_404,
    server_a,
)

router = APIRouter()


EXPORT_PERIODS: dict[str, tuple[str, timedelta | None]] = {
    "24h": ("last 24 hours", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
    "365d": ("last 365 days", timedelta(days=365)),
    "all": ("all time", None),
}


@router.get("/patients/{patient_id}/export.{kind}")
def export_patient(
    state: State,
    session: SignedIn,
    patient_id: str,
    kind: str,
    period: Annotated[str, Query(max_length=8)] = "30d",
) -> Response:
    if kind not in ("csv", "alerts.csv", "fhir.json", "pdf"):
        raise HTTPException(404)
    if period not in EXPORT_PERIODS:
        raise HTTPException(422, f"period must be one of {', '.join(EXPORT_PERIODS)}")
    words, span = EXPORT_PERIODS[period]
    since = None if span is None else datetime.now(UTC) - span
    with server_a(state, session) as api:
        patient = patient_or_404(api, state, patient_id)
        results = views.results_between(api, patient_id, since)
        tally_rows = (
            views.tallies(api, state.decryptor, patient_id, datetime.now(UTC))
            if kind == "pdf"
            else []
        )
    verdicts = [(r, state.decryptor.verdict(r)) for r in results]
    stem = f"hrmon-{patient_id}-{period}"
    headers = {"Cache-Control": "no-store"}
    if kind == "fhir.json":
        rows = [(str(r.reading_id), r.taken_at, r.received_at, v) for r, v in verdicts]
        headers["Content-Disposition"] = f'attachment; filename="{stem}.fhir.json"'
        return JSONResponse(
            export.fhir_bundle(patient_id, patient.label, rows),
            media_type="application/fhir+json",
            headers=headers,
        )
    alerts = [
        a
        for a in state.alerts.history(patient_id, limit=100_000)
        if since is None or a.occurred_at >= since
    ]
    if kind == "pdf":
        readings = [views.Reading(r.taken_at, v, r.received_at) for r, v in verdicts]
        headers["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
        pdf = report.patient_report(patient.label, words, since, tally_rows, readings, alerts)
        return Response(pdf, media_type="application/pdf", headers=headers)
    if kind == "alerts.csv":
        body = export.alerts_csv(alerts)
        headers["Content-Disposition"] = f'attachment; filename="{stem}-alerts.csv"'
    else:
        body = export.readings_csv([(r.taken_at, r.received_at, v) for r, v in verdicts])
        headers["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
