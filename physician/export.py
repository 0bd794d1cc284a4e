"""A patient's decided readings for the physician's records: CSV and a FHIR Bundle.

Made in the dashboard process from verdicts it decrypted itself; each file carries only
what the dashboard shows - the verdict (normal / abnormal, or why there is none), the
times, and the alert history - never a heart rate, a score, a key or a ciphertext.

FHIR: one ``Observation`` per decided reading whose only value is its interpretation
(HL7 v3 ``ObservationInterpretation`` ``N`` normal / ``A`` abnormal), ``effectiveDateTime``
the time the reading was taken, ``issued`` the time A received it; the patient is a
reference by the dashboard's patient id with the label as display. Built and validated
with ``fhir.resources`` (its R4B models: ``Bundle`` and ``Observation`` are unchanged from
R4 in every element used here), so a malformed resource fails here and not in the EHR.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from physician.alerts import Alert

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
CODE_TEXT = "Heart rate and heart sound screen (hrmon; verdict only)"
INTERPRETATION = {"normal": ("N", "Normal"), "abnormal": ("A", "Abnormal")}
CSV_COLUMNS = ("reading_taken_utc", "received_utc", "result")


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def readings_csv(rows: Sequence[tuple[datetime, datetime | None, str]]) -> str:
    """CSV of ``(taken_at, received_at, verdict)`` rows, a header first, times in UTC."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for taken_at, received_at, verdict in rows:
        writer.writerow((_utc(taken_at), _utc(received_at), verdict))
    return out.getvalue()


def alerts_csv(alerts: Sequence[Alert]) -> str:
    """CSV of a patient's alerts: kind, when it happened, opened, acknowledged, note."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ("kind", "occurred_utc", "opened_utc", "acknowledged_by", "acknowledged_utc", "note")
    )
    for a in alerts:
        writer.writerow(
            (
                a.kind,
                _utc(a.occurred_at),
                _utc(a.opened_at),
                a.acknowledged_by or "",
                _utc(a.acknowledged_at),
                a.note or "",
            )
        )
    return out.getvalue()


def fhir_bundle(
    patient_id: str,
    label: str,
    rows: Sequence[tuple[str, datetime, datetime | None, str]],
) -> dict[str, Any]:
    """A FHIR collection Bundle of one Observation per decided reading.

    Args:
        patient_id: the patient's id (the Observations' subject reference).
        label: the patient's label (the reference's display).
        rows: ``(reading_id, taken_at, received_at, verdict)``; readings that are not
            ``normal`` or ``abnormal`` (pending, invalid) are left out.

    Returns:
        The Bundle as JSON-ready data, validated by ``fhir.resources``.
    """
    entries = []
    for reading_id, taken_at, received_at, verdict in rows:
        if verdict not in INTERPRETATION:
            continue
        code, display = INTERPRETATION[verdict]
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": reading_id,
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "exam"}]}],
            "code": {"text": CODE_TEXT},
            "subject": {"reference": f"Patient/{patient_id}", "display": label},
            "effectiveDateTime": _utc(taken_at),
            "interpretation": [
                {"coding": [{"system": INTERPRETATION_SYSTEM, "code": code, "display": display}]}
            ],
        }
        if received_at is not None:
            observation["issued"] = _utc(received_at)
        entries.append({"fullUrl": f"urn:uuid:{reading_id}", "resource": observation})
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _utc(datetime.now(UTC)),
        "entry": entries,
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(mode="json")
    return validated
