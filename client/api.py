"""Typed HTTP client for server A (docs/api.md), shared by the device and physician tools.

Every failure becomes a :mod:`client.errors` exception whose message names the problem:
:class:`ServerUnavailable` when A cannot be reached or answers 503, :class:`AuthError` on
401, :class:`ApiError` with A's reason for any other refusal. Tokens travel in headers,
never in URLs; no ciphertext or secret is put into an error message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from client.errors import ApiError, AuthError, ServerUnavailable
from client.system_key import SystemPublicKey

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ResultOut:
    """One reading's state as A reports it; ``result`` is Enc_pkD(bit) once ``done``."""

    reading_id: str
    patient_id: str
    taken_at: str
    received_at: str
    status: str
    result: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultOut:
        return cls(
            reading_id=str(data["reading_id"]),
            patient_id=str(data["patient_id"]),
            taken_at=str(data["taken_at"]),
            received_at=str(data["received_at"]),
            status=str(data["status"]),
            result=None if data.get("result") is None else str(data["result"]),
        )


@dataclass(frozen=True)
class PatientOut:
    """One of the physician's patients."""

    patient_id: str
    label: str
    has_range: bool
    latest: ResultOut | None


@dataclass(frozen=True)
class NewPatient:
    """A freshly enrolled patient; the device token is shown this once."""

    patient_id: str
    device_token: str

    def __repr__(self) -> str:
        return f"NewPatient(patient_id={self.patient_id!r}, device_token=<secret>)"


@dataclass(frozen=True)
class TallyOut:
    """Enc_pkD(number of abnormal readings) over ``count`` decided readings (None if none)."""

    patient_id: str
    since: str | None
    until: str | None
    count: int
    tally: str | None


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
        return str(response.json()["physician_id"])

    def login(self, username: str, password: str) -> str:
        """Exchange credentials for a bearer token (kept on this client and returned)."""
        response = self._request(
            "POST",
            "/v1/auth/token",
            "log in",
            data={"username": username, "password": password},
        )
        self.token = str(response.json()["access_token"])
        return self.token

    def add_patient(self, label: str) -> NewPatient:
        """Enrol a patient; the device token comes back once."""
        data = self._request("POST", "/v1/patients", "add the patient", json={"label": label})
        body = data.json()
        return NewPatient(str(body["patient_id"]), str(body["device_token"]))

    def list_patients(self) -> list[PatientOut]:
        """The physician's own patients."""
        rows = self._request("GET", "/v1/patients", "list patients").json()
        return [
            PatientOut(
                patient_id=str(row["patient_id"]),
                label=str(row["label"]),
                has_range=bool(row["has_range"]),
                latest=None if row.get("latest") is None else ResultOut.from_json(row["latest"]),
            )
            for row in rows
        ]

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
        rows = self._request(
            "GET", f"/v1/patients/{patient_id}/results", "list results", params=params
        ).json()
        return [ResultOut.from_json(row) for row in rows]

    def tally(
        self, patient_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> TallyOut:
        """Enc_pkD(sum of result bits) over the window."""
        params = {
            key: value for key, value in (("since", _iso(since)), ("until", _iso(until))) if value
        }
        body = self._request(
            "GET", f"/v1/patients/{patient_id}/tally", "compute the tally", params=params
        ).json()
        return TallyOut(
            patient_id=str(body["patient_id"]),
            since=body.get("since"),
            until=body.get("until"),
            count=int(body["count"]),
            tally=body.get("tally"),
        )

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

    def submit_reading(self, body: dict[str, Any]) -> dict[str, str]:
        """``POST /v1/readings`` with this client's device token; ``{"reading_id","status"}``."""
        response = self._request("POST", "/v1/readings", "accept the reading", json=body)
        answer = response.json()
        return {"reading_id": str(answer["reading_id"]), "status": str(answer["status"])}


def _parse_events(lines: Iterator[str]) -> Iterator[ResultOut]:
    """Minimal text/event-stream parser: yields the data of each ``result`` event."""
    event: str = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data and event == "result":
                yield ResultOut.from_json(json.loads("\n".join(data)))
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
