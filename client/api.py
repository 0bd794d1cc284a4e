"""Typed HTTP client for server A (docs/api.md), shared by the device and physician tools.

Answers are parsed into the same pydantic models server A answers with
(:mod:`protocol.messages`); an answer that does not fit is an :class:`ApiError`.
Every failure becomes a :mod:`client.errors` exception whose message names the problem:
:class:`ServerUnavailable` when A cannot be reached or answers 503, :class:`AuthError` on
401, :class:`ApiError` with A's reason for any other refusal. Tokens travel in headers,
never in URLs; no ciphertext or secret is put into an error message.

About 300 lines: one method per route of docs/api.md, which read best side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from client.errors import ApiError, AuthError, ServerUnavailable
from client.system_key import SystemPublicKey
from protocol.messages import (
    EnrolmentCodeOut,
    PatientCreated,
    PatientOut,
    PhysicianOut,
    ReadingAccepted,
    ResultOut,
    TallyOut,
    TokenOut,
)

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NewPatient:
    """A freshly enrolled patient; the device token is shown this once."""

    patient_id: str
    device_token: str

    def __repr__(self) -> str:
        return f"NewPatient(patient_id={self.patient_id!r}, device_token=<secret>)"


def _detail(response: httpx.Response) -> str:
    """A's reason, from FastAPI's ``{"detail": ...}`` (a string or a validation list)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.reason_phrase or "no reason given"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{where}: {item.get('msg', 'invalid')}")
        return "; ".join(parts) or "invalid request"
    return str(detail) if detail else (response.reason_phrase or "no reason given")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class ServerAClient:
    """Server A over HTTP, with keep-alive.

    Args:
        base_url: e.g. ``http://127.0.0.1:8001``.
        token: a physician access token or a device token (both sent as Bearer).
        timeout_s: per request.
        transport: an alternative httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def __enter__(self) -> ServerAClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ServerAClient({self.base_url!r}, token={'<set>' if self.token else None})"

    # -- plumbing ---------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def _raise_for(self, response: httpx.Response, action: str) -> None:
        code = response.status_code
        if code < 400:
            return
        reason = _detail(response)
        if code == 503:
            raise ServerUnavailable(f"server A cannot {action} now (503): {reason}")
        if code == 401:
            raise AuthError(f"server A refused to {action}: not authenticated ({reason})")
        if code >= 500:
            raise ApiError(f"server A failed to {action} (HTTP {code})", code)
        raise ApiError(f"server A refused to {action} (HTTP {code}): {reason}", code)

    def _request(
        self,
        method: str,
        path: str,
        action: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, headers=self._headers(headers), **kwargs)
        except httpx.TimeoutException:
            raise ServerUnavailable(
                f"server A at {self.base_url} did not answer in time ({action})"
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"server A at {self.base_url} is unreachable ({type(exc).__name__}); is it running?"
            ) from None
        self._raise_for(response, action)
        return response

    # -- anyone -----------------------------------------------------------------------

    def healthz(self) -> bool:
        """True when A's process answers."""
        return self._request("GET", "/healthz", "report health").status_code == 200

    def system_key(self) -> SystemPublicKey:
        """The system public key A serves, with its fingerprint checked against the modulus."""
        data = self._request("GET", "/v1/system-key", "give its system key").json()
        return SystemPublicKey.from_json(data, "server A's system key")

    # -- physician --------------------------------------------------------------------

    def enrol_physician(
        self, enrolment_token: str, username: str, password: str, public_key: dict[str, str]
    ) -> str:
        """Register a physician and their pk_D; returns the physician id."""
        response = self._request(
            "POST",
            "/v1/physicians",
            "enrol the physician",
            headers={"X-Enrolment-Token": enrolment_token},
            json={"username": username, "password": password, "public_key": public_key},
        )
        return str(_parse(PhysicianOut, response, "enrolment").physician_id)

    def login(self, username: str, password: str) -> str:
        """Exchange credentials for a bearer token (kept on this client and returned)."""
        response = self._request(
            "POST",
            "/v1/auth/token",
            "log in",
            data={"username": username, "password": password},
        )
        self.token = _parse(TokenOut, response, "log-in").access_token
        return self.token

    def add_patient(self, label: str) -> NewPatient:
        """Enrol a patient; the device token comes back once."""
        response = self._request("POST", "/v1/patients", "add the patient", json={"label": label})
        created = _parse(PatientCreated, response, "new patient")
        return NewPatient(str(created.patient_id), created.device_token)

    def replace_device_token(self, patient_id: str) -> NewPatient:
        """A new device token for a patient; the old one stops working (shown this once)."""
        response = self._request(
            "POST", f"/v1/patients/{patient_id}/device-token", "replace the device token"
        )
        created = _parse(PatientCreated, response, "new device token")
        return NewPatient(str(created.patient_id), created.device_token)

    def new_enrolment_code(self, patient_id: str) -> EnrolmentCodeOut:
        """A one-time code for the patient's next device (replaces any earlier code)."""
        response = self._request(
            "POST", f"/v1/patients/{patient_id}/enrolment-code", "make an enrolment code"
        )
        return _parse(EnrolmentCodeOut, response, "enrolment code")

    def redeem_enrolment_code(self, code: str) -> NewPatient:
        """The device's side: the code for the patient id and a new device token."""
        response = self._request(
            "POST", "/v1/device-enrolment", "redeem the enrolment code", json={"code": code}
        )
        created = _parse(PatientCreated, response, "device enrolment")
        return NewPatient(str(created.patient_id), created.device_token)

    def list_patients(self) -> list[PatientOut]:
        """The physician's own patients."""
        response = self._request("GET", "/v1/patients", "list patients")
        return _parse_list(PatientOut, response, "patient list")

    def set_range(self, patient_id: str, body: dict[str, Any]) -> None:
        """Store E(lo), E(hi), E(tau) for a patient (see :func:`client.encrypt.encrypt_range`)."""
        self._request(
            "PUT", f"/v1/patients/{patient_id}/range", "set the patient's range", json=body
        )

    def results(
        self,
        patient_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[ResultOut]:
        """A patient's results, newest first."""
        params = {
            key: value
            for key, value in (("since", _iso(since)), ("until", _iso(until)), ("limit", limit))
            if value is not None
        }
        response = self._request(
            "GET", f"/v1/patients/{patient_id}/results", "list results", params=params
        )
        return _parse_list(ResultOut, response, "result list")

    def tally(
        self, patient_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> TallyOut:
        """Enc_pkD(sum of result bits) over the window."""
        params = {
            key: value for key, value in (("since", _iso(since)), ("until", _iso(until))) if value
        }
        response = self._request(
            "GET", f"/v1/patients/{patient_id}/tally", "compute the tally", params=params
        )
        return _parse(TallyOut, response, "tally")

    def events(self, *, timeout_s: float | None = None) -> Iterator[ResultOut]:
        """Results as A decides them (server-sent events, event ``result``), until closed."""
        try:
            with self._http.stream(
                "GET",
                "/v1/events",
                headers=self._headers({"Accept": "text/event-stream"}),
                timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, read=timeout_s),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response, "stream events")
                yield from _parse_events(response.iter_lines())
        except httpx.TimeoutException:
            raise ServerUnavailable("server A's event stream went quiet (timeout)") from None
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"server A at {self.base_url} dropped the event stream ({type(exc).__name__})"
            ) from None

    # -- device -----------------------------------------------------------------------

    def submit_reading(self, body: dict[str, Any]) -> ReadingAccepted:
        """``POST /v1/readings`` with this client's device token."""
        response = self._request("POST", "/v1/readings", "accept the reading", json=body)
        return _parse(ReadingAccepted, response, "reading receipt")


Model = TypeVar("Model", bound=BaseModel)


def _parse(model: type[Model], response: httpx.Response, what: str) -> Model:
    """A's answer as ``model``; a body that does not fit is A's fault, named as such."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise ApiError(f"server A sent a malformed {what}", response.status_code) from None


def _parse_list(model: type[Model], response: httpx.Response, what: str) -> list[Model]:
    try:
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]
    except ValidationError:
        raise ApiError(f"server A sent a malformed {what}", response.status_code) from None


def _parse_events(lines: Iterator[str]) -> Iterator[ResultOut]:
    """Minimal text/event-stream parser: yields the data of each ``result`` event."""
    event: str = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data and event == "result":
                try:
                    yield ResultOut.model_validate_json("\n".join(data))
                except ValidationError:
                    raise ApiError("server A sent a malformed result event", 200) from None
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
