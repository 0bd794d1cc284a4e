"""A physician's patients: enrolment, range, results, tally."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status

from protocol.messages import (
    Moment,
    PatientCreate,
    PatientCreated,
    PatientOut,
    RangeIn,
    RangeOut,
    ResultOut,
    TallyOut,
)
from server_a.api.deps import CurrentPhysician, OwnedPatient, ServicesDep
from server_a.core.security import device_token_hash, new_device_token
from server_a.results import homomorphic_tally, result_out
from server_a.storage import Conflict, StoredRange
from server_a.validation import InputRejected, check_system_ciphertexts
from service_common.responses import errors

router = APIRouter(tags=["patients"])

Since = Annotated[Moment | None, Query(description="taken_at >= since (ISO 8601, zoned)")]
Until = Annotated[Moment | None, Query(description="taken_at <= until (ISO 8601, zoned)")]


def _check_window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="since: after until")


@router.post("/v1/patients", status_code=status.HTTP_201_CREATED, responses=errors(401, 409, 413))
def add_patient(
    body: PatientCreate, physician: CurrentPhysician, services: ServicesDep
) -> PatientCreated:
    """Enrol a patient; the device token is shown once (A keeps its SHA-256 only)."""
    token = new_device_token()
    try:
        patient = services.storage.add_patient(physician.id, body.label, device_token_hash(token))
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return PatientCreated(patient_id=UUID(patient.id), device_token=token)


@router.post(
    "/v1/patients/{patient_id}/device-token",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 413),
)
def replace_device_token(patient: OwnedPatient, services: ServicesDep) -> PatientCreated:
    """A new device token for the patient (a lost or stolen device): the old one is
    refused from now on; the new one is shown this once."""
    token = new_device_token()
    services.storage.replace_device_token(patient.id, device_token_hash(token))
    return PatientCreated(patient_id=UUID(patient.id), device_token=token)


@router.get("/v1/patients", responses=errors(401))
def list_patients(physician: CurrentPhysician, services: ServicesDep) -> list[PatientOut]:
    """This physician's patients with their latest reading."""
    return [
        PatientOut(
            patient_id=UUID(patient.id),
            label=patient.label,
            has_range=patient.has_range,
            latest=result_out(latest) if latest is not None else None,
            invalid_readings=invalid,
        )
        for patient, latest, invalid in services.storage.patients_of(physician.id)
    ]


@router.put("/v1/patients/{patient_id}/range", responses=errors(401, 403, 404, 413))
def set_range(body: RangeIn, patient: OwnedPatient, services: ServicesDep) -> RangeOut:
    """Store E(lo), E(hi), E(tau), E(rho) (system key); pending readings are then compared."""
    try:
        check_system_ciphertexts(
            services.system_key,
            body.key_id,
            {
                "low": body.low,
                "high": body.high,
                "threshold": body.threshold,
                "irregularity_threshold": body.irregularity_threshold,
            },
        )
    except InputRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    when = services.storage.set_range(
        patient.id,
        body.key_id,
        StoredRange(body.low, body.high, body.threshold, body.irregularity_threshold),
    )
    services.worker.wake()
    return RangeOut(patient_id=UUID(patient.id), updated_at=when)


@router.get("/v1/patients/{patient_id}/results", responses=errors(401, 403, 404))
def results(
    patient: OwnedPatient,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ResultOut]:
    """The patient's readings in the window, newest first."""
    _check_window(since, until)
    return [result_out(r) for r in services.storage.results(patient.id, since, until, limit)]


@router.get("/v1/patients/{patient_id}/tally", responses=errors(401, 403, 404))
def tally(
    patient: OwnedPatient,
    physician: CurrentPhysician,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
) -> TallyOut:
    """Enc_pkD(number of abnormal readings) over the done readings in the window."""
    _check_window(since, until)
    decided = services.storage.decided_results(patient.id, since, until)
    return TallyOut(
        patient_id=UUID(patient.id),
        since=since,
        until=until,
        count=len(decided),
        tally=homomorphic_tally(physician.public_key_n, decided),
    )
