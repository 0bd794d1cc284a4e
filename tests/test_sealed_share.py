"""B's partial decryption ahead (PDec_1 || PDec_2): sealed for B alone, bound to its pack,
accepted by any B holding SK2, refused when moved, forged or garbled; and the two noise
schemes (full-size r^N, DJN short exponents) give N-th residues that decrypt alike."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from protocol.ciphertext import decode_ciphertext
from protocol.keys import ShareError, combine_partial_decryptions
from protocol.paillier import (
    NOISE_SCHEMES,
    PublicKey,
    decrypt,
    djn_base,
    djn_exponent_bits,
    encrypt,
    fresh_noise,
    generate_keypair,
    key_id,
)
from protocol.sealed_share import SealError, ShareSealer
from server_b.app import create_app
from server_b.core.config import Settings
from service_common.noise import NoisePoolCache
from tests.service_helpers import (
    body_of,
    compare_request,
    error_text,
    physician_key,
    signed,
    system_key,
)

pytest_plugins = ["tests.servers"]
LOW, HIGH, THRESHOLD = 600, 1000, 5000


def _b_client(key_dir: Path) -> httpx.AsyncClient:
    """A fresh server B app: a second instance stands for a replica or a restarted B."""
    settings = Settings(key_dir=key_dir, allow_insecure_test_keys=True, noise_pool_size=0)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://b"
    )


def _compare_doc(readings: list[list[tuple[int, int]]]) -> dict[str, object]:
    pk, share_a, _ = system_key()
    doc: dict[str, object] = json.loads(
        body_of(compare_request(pk, share_a, physician_key()[0], readings, (LOW, HIGH, THRESHOLD)))
    )
    return doc


async def _post(http: httpx.AsyncClient, key_dir: Path, path: str, doc: object) -> httpx.Response:
    body = json.dumps(doc).encode()
    return await http.post(path, content=body, headers=signed(key_dir, body))


async def _seal(http: httpx.AsyncClient, key_dir: Path, ciphertexts: list[str]) -> list[str]:
    doc = {"system_key_id": key_id(system_key()[0]), "ciphertexts": ciphertexts}
    response = await _post(http, key_dir, "/v1/partial-decryption", doc)
    assert response.status_code == 200, response.text
    sealed: list[str] = response.json()["sealed"]
    assert len(sealed) == len(ciphertexts)
    return sealed


def _bits(response: httpx.Response) -> list[int]:
    pk_d, sk_d = physician_key()
    answers = [a for p in response.json()["packs"] for a in p["answers"]]
    return [decrypt(sk_d, decode_ciphertext(pk_d, a)) for a in answers]


@pytest.mark.anyio
async def test_a_seal_from_one_b_is_opened_by_another_and_gives_the_right_bits(
    key_dir: Path,
) -> None:
    """Stateless: the second message may reach another replica, or B after a restart."""
    doc = _compare_doc([[(599, 10)], [(800, 10)], [(800, 5000)]])
    packs = doc["packs"]
    assert isinstance(packs, list)
    async with _b_client(key_dir) as first, _b_client(key_dir) as second:
        sealed = await _seal(first, key_dir, [p["ciphertext"] for p in packs])
        for pack, seal in zip(packs, sealed, strict=True):
            pack["pdec2_sealed"] = seal
        response = await _post(second, key_dir, "/v1/compare", doc)
    assert response.status_code == 200, response.text
    assert _bits(response) == [1, 0, 1]


@pytest.mark.anyio
@pytest.mark.parametrize("attack", ["other pack", "flipped byte", "truncated", "not base64"])
async def test_a_moved_forged_or_garbled_seal_is_refused_naming_the_field(
    key_dir: Path, attack: str
) -> None:
    doc = _compare_doc([[(800, 10)], [(599, 10)]])
    packs = doc["packs"]
    assert isinstance(packs, list)
    async with _b_client(key_dir) as b:
        sealed = await _seal(b, key_dir, [p["ciphertext"] for p in packs])
        raw = bytearray(base64.b64decode(sealed[0]))
        if attack == "other pack":  # B's share of pack 1 offered for pack 0
            seal = sealed[1]
        elif attack == "flipped byte":
            raw[40] ^= 1
            seal = base64.b64encode(bytes(raw)).decode()
        elif attack == "truncated":
            seal = base64.b64encode(bytes(raw[:-4])).decode()
        else:
            seal = "@" * 16
        packs[0]["pdec2_sealed"] = seal
        packs[1]["pdec2_sealed"] = sealed[1]
        response = await _post(b, key_dir, "/v1/compare", doc)
    assert response.status_code == 422, response.text
    assert "packs[0].pdec2_sealed" in error_text(response.json()["detail"])


@pytest.mark.anyio
async def test_partial_decryption_route_checks_its_fields_and_its_caller(key_dir: Path) -> None:
    doc = _compare_doc([[(800, 10)]])
    packs = doc["packs"]
    assert isinstance(packs, list)
    async with _b_client(key_dir) as b:
        wrong_key = {"system_key_id": "0" * 16, "ciphertexts": [packs[0]["ciphertext"]]}
        response = await _post(b, key_dir, "/v1/partial-decryption", wrong_key)
        assert response.status_code == 422
        assert "system_key_id" in error_text(response.json()["detail"])
        garbage = {"system_key_id": doc["system_key_id"], "ciphertexts": ["AAAA"]}
        response = await _post(b, key_dir, "/v1/partial-decryption", garbage)
        assert response.status_code == 422
        assert "ciphertexts[0]" in error_text(response.json()["detail"])
        unsigned = await b.post("/v1/partial-decryption", json=wrong_key)
        assert unsigned.status_code == 401


def test_a_holding_pdec1_cannot_open_the_pack_with_the_seal() -> None:
    """The attack the seal prevents: A, which holds PDec_1 and B's answer, combining them.
    Every 'PDec_2' A could read out of the seal fails to combine, and two seals of one
    pack differ (a fresh nonce), so A cannot even tell two seals of one value apart."""
    pk, share_a, share_b = system_key()
    c = encrypt(pk, 12345)
    pdec1 = share_a.partial_decrypt(c)
    sealer = ShareSealer(share_b)
    first, second = sealer.seal(c), sealer.seal(c)
    assert first != second
    raw = base64.b64decode(first)
    width = (pk.nsquare.bit_length() + 7) // 8
    for offset in range(len(raw) - width + 1):
        guess = int.from_bytes(raw[offset : offset + width], "big")
        with pytest.raises(ShareError):
            combine_partial_decryptions(pk, pdec1, guess)
    assert combine_partial_decryptions(pk, pdec1, sealer.unseal(c, first)) == 12345


def test_only_the_holder_of_sk2_opens_a_seal() -> None:
    pk, share_a, share_b = system_key()
    c = encrypt(pk, 7)
    seal = ShareSealer(share_b).seal(c)
    with pytest.raises(SealError, match="not sealed by this server"):
        ShareSealer(share_a).unseal(c, seal)  # A's share: another AEAD key


@pytest.mark.parametrize("scheme", NOISE_SCHEMES)
def test_noise_of_either_scheme_is_an_nth_residue_and_encrypts_alike(scheme: str) -> None:
    pk, sk = physician_key()
    values = {fresh_noise(pk, scheme) for _ in range(8)}  # type: ignore[arg-type]
    assert len(values) == 8
    for noise in values:
        assert decrypt(sk, noise) == 0  # E(0): an N-th residue
        assert decrypt(sk, encrypt(pk, 4242, noise)) == 4242
    cache = NoisePoolCache(target=0, scheme=scheme)  # type: ignore[arg-type]
    assert decrypt(sk, cache.take(pk)) == 0


def test_djn_base_is_a_public_function_of_the_key_and_exponents_fit_its_strength() -> None:
    pk, _ = physician_key()
    assert djn_base(pk.n) == djn_base(pk.n)  # every party derives the same h_N
    other, _ = generate_keypair(1024)
    assert djn_base(other.n) != djn_base(pk.n)
    assert djn_exponent_bits(PublicKey((1 << 2047) + 1)) == 224  # 2048 bits: 112-bit strength
    assert djn_exponent_bits(pk) == 160  # 1024-bit test keys: 80-bit strength
