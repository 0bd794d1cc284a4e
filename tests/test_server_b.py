"""Server B alone, through its real HTTP stack in memory (httpx.ASGITransport)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from protocol.ciphertext import ciphertext_length, decode_ciphertext
from protocol.encoding import to_zn
from protocol.paillier import decrypt
from server_b.app import create_app
from server_b.core.config import Settings
from service_common.signing import (
    RESPONSE_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_response,
)
from tests.service_helpers import (
    ab_secret,
    body_of,
    compare_request,
    error_text,
    physician_key,
    signed,
    system_key,
)

pytest_plugins = ["tests.servers"]
pytestmark = pytest.mark.anyio
LOW, HIGH, THRESHOLD = 600, 1000, 5000


def expected_bit(hr: int, score: int) -> int:
    return int(hr < LOW or hr > HIGH or score >= THRESHOLD)


@pytest.fixture
async def client(key_dir: Path) -> httpx.AsyncClient:
    app = create_app(Settings(key_dir=key_dir, allow_insecure_test_keys=True, noise_pool_size=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://b"
    ) as http:
        yield http


def good_body(packs: list[list[tuple[int, int]]]) -> bytes:
    pk, share_a, _ = system_key()
    pk_d, _ = physician_key()
    return body_of(compare_request(pk, share_a, pk_d, packs, (LOW, HIGH, THRESHOLD)))


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_right_bits_for_readings_around_every_bound(
    client: httpx.AsyncClient, key_dir: Path
) -> None:
    readings = [(599, 10), (600, 4999), (1000, 5000), (1001, 0), (800, 4999), (800, 5001)]
    packs = [readings[i : i + 2] for i in range(0, len(readings), 2)]
    body = good_body(packs)
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 200, response.text
    pk_d, sk_d = physician_key()
    answers = [a for p in response.json()["packs"] for a in p["answers"]]
    assert [decrypt(sk_d, decode_ciphertext(pk_d, a)) for a in answers] == [
        expected_bit(hr, s) for hr, s in readings
    ]


async def test_the_answer_is_signed_for_this_request_only(
    client: httpx.AsyncClient, key_dir: Path
) -> None:
    body = good_body([[(800, 10)]])
    headers = signed(key_dir, body)
    response = await client.post("/v1/compare", content=body, headers=headers)
    assert response.status_code == 200
    answer_signature = response.headers.get(RESPONSE_SIGNATURE_HEADER)
    secret = ab_secret(key_dir)
    verify_response(secret, headers[SIGNATURE_HEADER], answer_signature, response.content)
    earlier = int(headers[TIMESTAMP_HEADER]) - 1  # another request: another timestamp
    other = signed(key_dir, body, earlier)[SIGNATURE_HEADER]
    with pytest.raises(SignatureError, match="does not match"):
        verify_response(secret, other, answer_signature, response.content)
    with pytest.raises(SignatureError, match="does not match"):
        verify_response(
            secret, headers[SIGNATURE_HEADER], answer_signature, response.content + b" "
        )


async def test_out_of_band_pack_is_flagged_and_others_answered(
    client: httpx.AsyncClient, key_dir: Path
) -> None:
    pk, _, _ = system_key()
    body = good_body([[(800, 10)], [(to_zn(2**200, pk.n), 10)]])
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 200
    first, second = response.json()["packs"]
    assert first["status"] == "ok" and len(first["answers"]) == 1
    assert second == {"status": "out_of_band", "answers": []}


@pytest.mark.parametrize(
    "case", ["missing", "stale", "future", "wrong", "tampered", "not-a-number"]
)
async def test_only_server_a_is_answered(
    client: httpx.AsyncClient, key_dir: Path, case: str
) -> None:
    body = good_body([[(800, 10)]])
    headers = signed(key_dir, body)
    if case == "missing":
        headers = {"content-type": "application/json"}
    elif case == "stale":
        headers = signed(key_dir, body, now=time.time() - 61)
    elif case == "future":
        headers = signed(key_dir, body, now=time.time() + 120)
    elif case == "wrong":
        headers["X-HRMon-Signature"] = "0" * 64
    elif case == "tampered":
        body = body.replace(b'"packs"', b' "packs"', 1)
    elif case == "not-a-number":
        headers["X-HRMon-Timestamp"] = "yesterday"
    response = await client.post("/v1/compare", content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("HMAC")


async def test_unsigned_garbage_gets_401_not_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/compare", content=b"{not json")
    assert response.status_code == 401


def _mutate(body: bytes, path: list[str | int], value: object) -> bytes:
    doc = json.loads(body)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["packs", 0, "pdec1"], "!!!!", "packs[0].pdec1"),
        (["packs", 0, "ciphertext"], "AAAA", "packs[0].ciphertext"),
        (["packs", 0, "readings", 0, "table", 3], "QUJD", "packs[0].readings[0].table[3]"),
        (["system_key_id"], "0123456789abcdef", "system_key_id"),
        (["packs", 0, "readings", 0, "physician_key_id"], "0123456789abcdef", "physician_key_id"),
        (["physician_keys", 0, "key_id"], "0123456789abcdef", "physician_keys[0].key_id"),
    ],
)
async def test_bad_field_gets_422_naming_it(
    client: httpx.AsyncClient, key_dir: Path, path: list[str | int], value: object, field: str
) -> None:
    body = _mutate(good_body([[(800, 10)]]), path, value)
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 422, response.text
    assert field in error_text(response.json()["detail"])


async def test_zero_ciphertext_is_refused(client: httpx.AsyncClient, key_dir: Path) -> None:
    pk, _, _ = system_key()
    zero = base64.b64encode(bytes(ciphertext_length(pk))).decode()
    body = _mutate(good_body([[(800, 10)]]), ["packs", 0, "pdec1"], zero)
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 422
    assert "packs[0].pdec1: out of range" in response.json()["detail"]


async def test_pdec1_from_another_share_is_refused(
    client: httpx.AsyncClient, key_dir: Path
) -> None:
    doc = json.loads(good_body([[(800, 10)]]))
    doc["packs"][0]["pdec1"] = doc["packs"][0]["ciphertext"]
    body = json.dumps(doc).encode()
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 422
    assert "packs[0].pdec1" in response.json()["detail"]


async def test_malformed_body_gets_422(client: httpx.AsyncClient, key_dir: Path) -> None:
    body = b'{"system_key_id": "x"}'
    response = await client.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 422


async def test_body_over_limit_gets_413(key_dir: Path) -> None:
    app = create_app(Settings(key_dir=key_dir, allow_insecure_test_keys=True, max_body_bytes=1000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as h:
        body = good_body([[(800, 10)]])
        response = await h.post("/v1/compare", content=body, headers=signed(key_dir, body))
    assert response.status_code == 413


def test_refuses_small_keys_without_the_test_flag(key_dir: Path) -> None:
    with pytest.raises(ValidationError, match="under 2048"):
        Settings(key_dir=key_dir)


def test_refuses_missing_share(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        Settings(key_dir=tmp_path, allow_insecure_test_keys=True)


def test_refuses_share_a(key_dir: Path) -> None:
    with pytest.raises(ValidationError, match="needs share 2"):
        Settings(
            share_file=key_dir / "share_a.json",
            ab_secret_file=key_dir / "ab_secret",
            allow_insecure_test_keys=True,
        )


@pytest.mark.parametrize("secret", ["changethis", "short-secret", "a" * 64])
def test_refuses_weak_ab_secret(key_dir: Path, secret: str) -> None:
    (key_dir / "ab_secret").write_text(secret)
    with pytest.raises(ValidationError, match="A-B secret"):
        Settings(key_dir=key_dir, allow_insecure_test_keys=True)
