"""Property-based fuzzing of both servers' OpenAPI schemas with schemathesis, against the real
processes, with valid credentials so requests reach the handlers: no answer is a 5xx, and
every status a route answers is one its OpenAPI entry lists."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_common.signing import signature_headers
from tests.fault_support import World, running_world
from tests.service_helpers import ab_secret, bearer, enrolment_headers

pytestmark = [pytest.mark.faults, pytest.mark.slow]
EXAMPLES_PER_OPERATION = 110
EXAMPLES = {("POST", "/v1/compare"): 300}  # B's one door: fuzz it hardest
MIN_REQUESTS = 1000
SKIPPED = {("GET", "/v1/events")}  # an endless event stream; covered by the SSE tests


def _a_headers(world: World, method: str, path: str) -> dict[str, str]:
    if path == "/v1/readings":
        return bearer(world.patients[0].device_token)
    if path == "/v1/physicians":
        return enrolment_headers(world.key_dir)
    return bearer(world.token)


def _fuzz(
    schema: Any,
    base_url: str,
    headers_for: Any,
    counts: Counter[str],
    statuses: Counter[int],
    failures: list[str],
    undocumented: set[str],
) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        documented = {str(code) for code in operation.definition.raw.get("responses", {})}

        @settings(
            max_examples=EXAMPLES.get(key, EXAMPLES_PER_OPERATION),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), own_patient=st.booleans())
        def run(case: Any, own_patient: bool) -> None:
            extra: dict[str, Any] = {}
            if own_patient and "patient_id" in (case.path_parameters or {}):
                case.path_parameters["patient_id"] = headers_for.patient_id
            headers = headers_for(case.method.upper(), case.path)
            if headers_for.sign:  # B: sign exactly the bytes sent, as server A does
                body = b"" if _is_unset(case.body) else json.dumps(case.body).encode()
                headers = {**headers, **signature_headers(headers_for.secret, body)}
                extra["data"] = body
            response = case.call(base_url=base_url, headers=headers, timeout=60, **extra)
            counts[f"{key[0]} {key[1]}"] += 1
            statuses[response.status_code] += 1
            if str(response.status_code) not in documented:
                undocumented.add(f"{key[0]} {key[1]} -> {response.status_code}")
            if response.status_code >= 500:
                failures.append(
                    f"{key[0]} {key[1]} -> {response.status_code}: {response.text[:200]}"
                )

        run()


def _is_unset(value: Any) -> bool:
    return type(value).__name__ == "NotSet"


class _AHeaders:
    sign = False

    def __init__(self, world: World) -> None:
        self.world = world
        self.patient_id = world.patients[0].patient_id

    def __call__(self, method: str, path: str) -> dict[str, str]:
        return _a_headers(self.world, method, path)


class _BHeaders:
    sign = True
    patient_id = ""

    def __init__(self, key_dir: Path) -> None:
        self.secret = ab_secret(key_dir)

    def __call__(self, method: str, path: str) -> dict[str, str]:
        return {}


def test_no_generated_request_gets_a_5xx(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    undocumented: set[str] = set()
    with running_world(tmp_path, f"sqlite:///{tmp_path / 'a.sqlite3'}") as world:
        a_schema = schemathesis.openapi.from_url(f"{world.a_url}/openapi.json")
        _fuzz(a_schema, world.a_url, _AHeaders(world), counts, statuses, failures, undocumented)
        b_url = world.servers.b_url
        b_schema = schemathesis.openapi.from_url(f"{b_url}/openapi.json")
        _fuzz(b_schema, b_url, _BHeaders(world.key_dir), counts, statuses, failures, undocumented)
    total = sum(counts.values())
    print(f"\nschemathesis: {total} generated requests: {dict(counts)}")
    print(f"schemathesis: answers by status: {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:20])
    assert not undocumented, sorted(undocumented)
    assert total >= MIN_REQUESTS, counts
