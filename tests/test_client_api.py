"""The server-A client turns every failure into a named error (no traceback, no secrets)."""

from __future__ import annotations

import socket

import httpx
import pytest

from client.api import ServerAClient, _parse_events
from client.errors import ApiError, AuthError, ServerUnavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(handler) -> ServerAClient:
    return ServerAClient("http://a.test", "secret-token", transport=httpx.MockTransport(handler))


def test_a_server_that_is_down_is_named_unavailable():
    api = ServerAClient(f"http://127.0.0.1:{_closed_port()}")
    with api, pytest.raises(ServerUnavailable, match="unreachable"):
        api.system_key()


def test_401_is_an_auth_error_with_the_reason():
    api = _client(lambda r: httpx.Response(401, json={"detail": "bad device token"}))
    with pytest.raises(AuthError, match="bad device token"):
        api.submit_reading({})


def test_503_is_unavailable_and_422_lists_the_fields():
    api = _client(lambda r: httpx.Response(503, json={"detail": "database down"}))
    with pytest.raises(ServerUnavailable, match="database down"):
        api.list_patients()
    detail = [{"loc": ["body", "heart_rate"], "msg": "not valid base64", "type": "x"}]
    api = _client(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(ApiError, match=r"body\.heart_rate: not valid base64") as err:
        api.submit_reading({})
    assert err.value.status_code == 422


def test_the_token_travels_in_a_header_and_never_in_the_message():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers.get("authorization")
        seen["url"] = str(request.url)
        return httpx.Response(403, json={"detail": "not your patient"})

    with pytest.raises(ApiError) as err:
        _client(handler).results("p1")
    assert seen["auth"] == "Bearer secret-token"
    assert "secret-token" not in seen["url"] and "secret-token" not in str(err.value)


def test_a_system_key_whose_id_does_not_match_its_modulus_is_refused(system_keys):
    n = system_keys[0].n
    api = _client(
        lambda r: httpx.Response(200, json={"key_id": "0" * 16, "n": hex(n), "bits": 1024})
    )
    with pytest.raises(Exception, match="does not match"):
        api.system_key()


def test_server_sent_events_yield_result_events_only():
    reading, patient = (
        "7d1f3a3e-3c1b-4f0e-9a57-1f1f6c8b2a10",
        "0b8a1c55-2d7e-4b1a-8f62-55e0d4c3b901",
    )
    lines = [
        ": keep-alive",
        "",
        "event: result",
        f'data: {{"reading_id": "{reading}", "patient_id": "{patient}",',
        'data:  "taken_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:01Z",',
        'data:  "status": "done", "result": "QUJD"}',
        "",
        "event: other",
        "data: {}",
        "",
    ]
    events = list(_parse_events(iter(lines)))
    assert [(str(e.reading_id), e.status, e.result) for e in events] == [(reading, "done", "QUJD")]


def test_a_malformed_result_event_is_named_not_a_traceback():
    lines = ["event: result", 'data: {"reading_id": "r1", "status": "done"}', ""]
    with pytest.raises(ApiError, match="malformed result event"):
        list(_parse_events(iter(lines)))


def test_a_malformed_answer_is_an_api_error_naming_it():
    api = _client(lambda r: httpx.Response(200, json={"patient_id": "not-a-uuid"}))
    with pytest.raises(ApiError, match="malformed tally"):
        api.tally("p1")
