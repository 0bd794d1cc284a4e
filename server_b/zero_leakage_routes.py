"""Server B's two zero-leakage endpoints (docs/zero-leakage.md), mounted when
``HRMON_COMPARISON_MODE=zero-leakage``.

``POST /v1/zl/open``: steps b1-b2 for every pack; ``POST /v1/zl/answer``: steps b3-b4 for
every reading. Both are signed by A like ``/v1/compare``; every field is checked before
any exponentiation, and a 422 names the field at fault. B keeps nothing between calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from pydantic import ValidationError

from protocol import dgk
from protocol import zero_leakage as zl
from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.keys import KeyShare, ShareError
from protocol.messages_zero_leakage import (
    ZlAnswerRequest,
    ZlAnswerResponse,
    ZlOpened,
    ZlOpenRequest,
    ZlOpenResponse,
)
from protocol.paillier import PublicKey, key_id
from server_b.compare import FieldError
from service_common.zero_leakage_config import ZeroLeakageKeys, zero_leakage_keys

Noise = Callable[[PublicKey], int]


def _paillier(public_key: PublicKey, text: str, field: str) -> int:
    try:
        return decode_ciphertext(public_key, text, field)
    except CiphertextError as exc:
        raise FieldError(str(exc)) from None


def _dgk(public_key: dgk.DgkPublicKey, text: str, field: str) -> int:
    try:
        return dgk.decode_ciphertext(public_key, text, field)
    except dgk.DgkError as exc:
        raise FieldError(str(exc)) from None


def open_packs(share: KeyShare, dgk_sk: dgk.DgkSecretKey, request: ZlOpenRequest) -> ZlOpenResponse:
    """Steps b1-b2: open each pack and encrypt its slots' bits under DGK.

    A pack with guard bits set is answered ``out_of_band``; the others are unaffected.

    Raises:
        FieldError: a key id, ciphertext or ``pdec1`` is wrong (nothing is answered).
    """
    system = share.public_key
    dgk_pk = dgk_sk.public
    if request.system_key_id != key_id(system):
        raise FieldError("system_key_id: not this server's system key")
    if request.dgk_key_id != dgk_pk.key_id:
        raise FieldError("dgk_key_id: not this server's DGK key")
    capacity = zl.DEFAULT_ZL_PARAMS.slots_per_ciphertext(system.n)
    decoded = []
    for p, pack in enumerate(request.packs):
        if pack.slots > capacity:
            raise FieldError(f"packs[{p}].slots: {pack.slots} do not fit one ciphertext")
        decoded.append(
            (
                _paillier(system, pack.ciphertext, f"packs[{p}].ciphertext"),
                _paillier(system, pack.pdec1, f"packs[{p}].pdec1"),
                pack.slots,
            )
        )
    opened: list[list[int] | None] = []
    for p, (ciphertext, pdec1, slots) in enumerate(decoded):
        try:
            opened.append(zl.b1_open_pack(share, system, ciphertext, pdec1, slots))
        except ShareError:
            raise FieldError(
                f"packs[{p}].pdec1: does not combine with this server's share"
            ) from None
        except zl.SlotOutOfBand:
            opened.append(None)
    masked = [z for zs in opened if zs is not None for z in zs]
    bits = iter(zl.b2_encrypt_bits(dgk_sk, masked)) if masked else iter(())
    width = zl.DEFAULT_ZL_PARAMS.terms_per_check
    answers = []
    for zs in opened:
        if zs is None:
            answers.append(ZlOpened(status="out_of_band"))
            continue
        chunk = [dgk.encode_ciphertext(dgk_pk, next(bits)) for _ in range(width * len(zs))]
        answers.append(ZlOpened(status="ok", bits=chunk))
    return ZlOpenResponse(packs=answers)


def answer_readings(
    dgk_sk: dgk.DgkSecretKey, request: ZlAnswerRequest, min_physician_bits: int, noise: Noise
) -> ZlAnswerResponse:
    """Steps b3-b4: zero-test every reading's terms and pick its table entry.

    Raises:
        FieldError: a key id or ciphertext is wrong (nothing is answered).
    """
    dgk_pk = dgk_sk.public
    if request.dgk_key_id != dgk_pk.key_id:
        raise FieldError("dgk_key_id: not this server's DGK key")
    physician_keys: dict[str, PublicKey] = {}
    for i, entry in enumerate(request.physician_keys):
        pk_d = PublicKey(int(entry.n, 16))
        if key_id(pk_d) != entry.key_id:
            raise FieldError(f"physician_keys[{i}].key_id: does not match its modulus")
        n_d: int = pk_d.n
        if n_d.bit_length() < min_physician_bits or n_d % 2 == 0:
            raise FieldError(
                f"physician_keys[{i}].n: not a modulus of >= {min_physician_bits} bits"
            )
        physician_keys[entry.key_id] = pk_d
    terms: list[int] = []
    tables: list[tuple[PublicKey, list[int]]] = []
    for r, reading in enumerate(request.readings):
        pk_d_or_none = physician_keys.get(reading.physician_key_id)
        if pk_d_or_none is None:
            raise FieldError(f"readings[{r}].physician_key_id: not among physician_keys")
        terms.extend(
            _dgk(dgk_pk, text, f"readings[{r}].terms[{t}]") for t, text in enumerate(reading.terms)
        )
        tables.append(
            (
                pk_d_or_none,
                [
                    _paillier(pk_d_or_none, text, f"readings[{r}].table[{t}]")
                    for t, text in enumerate(reading.table)
                ],
            )
        )
    shares = zl.b3_zero_test(dgk_sk, terms)
    answers = zl.b4_pick_answers(tables, shares, noise)
    return ZlAnswerResponse(
        answers=[encode_ciphertext(pk_d, c) for (pk_d, _), c in zip(tables, answers, strict=True)]
    )


def zero_leakage_router(
    share: KeyShare,
    keys: ZeroLeakageKeys,
    min_physician_bits: int,
    noise: Noise,
    signed_body: Callable[[Request], object],
) -> APIRouter:
    """The two endpoints, behind the same signature check as ``/v1/compare``.

    Args:
        share: SK2.
        keys: B's DGK secret key (loaded and checked at start).
        min_physician_bits: smallest accepted physician modulus.
        noise: r^N under a physician key (B's pool cache ``take``).
        signed_body: the dependency that returns the raw body once A's HMAC checks out.
    """
    assert keys.secret is not None
    dgk_sk = keys.secret
    router = APIRouter()
    checked = Depends(signed_body)  # the annotation form cannot see this local

    def _unprocessable(detail: object) -> HTTPException:
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)

    @router.post("/v1/zl/open")
    async def zl_open(body: bytes = checked) -> ZlOpenResponse:
        """Steps b1-b2 for every pack of a signed ``ZlOpenRequest``."""
        try:
            request = ZlOpenRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _unprocessable(
                exc.errors(include_url=False, include_input=False, include_context=False)
            ) from None
        try:
            return await asyncio.to_thread(open_packs, share, dgk_sk, request)
        except FieldError as exc:
            raise _unprocessable(str(exc)) from None

    @router.post("/v1/zl/answer")
    async def zl_answer(body: bytes = checked) -> ZlAnswerResponse:
        """Steps b3-b4 for every reading of a signed ``ZlAnswerRequest``."""
        try:
            request = ZlAnswerRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _unprocessable(
                exc.errors(include_url=False, include_input=False, include_context=False)
            ) from None
        try:
            return await asyncio.to_thread(
                answer_readings, dgk_sk, request, min_physician_bits, noise
            )
        except FieldError as exc:
            raise _unprocessable(str(exc)) from None

    return router


def mount_zero_leakage(
    app: FastAPI,
    key_dir: Path | None,
    allow_insecure_test_keys: bool,
    share: KeyShare,
    min_physician_bits: int,
    noise: Noise,
    signed_body: Callable[[Request], object],
) -> None:
    """Add the two endpoints when ``HRMON_COMPARISON_MODE=zero-leakage`` (else nothing).

    Raises:
        service_common.keyfiles.KeyFileError: zero-leakage mode without a usable DGK key file.
    """
    keys = zero_leakage_keys(
        key_dir, secret=True, allow_insecure_test_keys=allow_insecure_test_keys
    )
    if keys is not None:
        app.include_router(zero_leakage_router(share, keys, min_physician_bits, noise, signed_body))
