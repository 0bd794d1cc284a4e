"""Server A's worker in zero-leakage mode: the base worker's loop, retries and storage,
with the comparison replaced by the two rounds of docs/zero-leakage.md.

Round 1 (``/v1/zl/open``): steps a1-a2 and PDec_1 for every pack of the batch; round 2
(``/v1/zl/answer``): steps a3-a4 for every reading whose pack B accepted. A pack holds
one patient's readings only (a crafted value can carry into a neighbouring slot
unseen; see the document), and A's coins live only in memory for the batch: if B fails
in between, the readings stay pending and the next try draws fresh coins.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from protocol import comparison as cmp
from protocol import dgk
from protocol import zero_leakage as zl
from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.messages import PhysicianPublicKey
from protocol.messages_zero_leakage import (
    ZlAnswerRequest,
    ZlAnswerResponse,
    ZlOpenRequest,
    ZlOpenResponse,
    ZlPack,
    ZlReading,
)
from protocol.paillier import key_id
from protocol.params import CHECKS_PER_READING
from server_a.batch_preparer import decode_work_item, pack_groups
from server_a.comparison_worker import BUnavailable, ComparisonWorker, PreparedBatch
from server_a.storage import WorkItem
from service_common.signing import signature_headers
from service_common.zero_leakage_config import ZeroLeakageKeys, zero_leakage_keys

Response = TypeVar("Response", bound=BaseModel)


@dataclass
class ZlPreparedBatch(PreparedBatch):
    """Round 1's request, and per pack A's secret masks (kept for round 2)."""

    open_request: ZlOpenRequest | None = None
    masks: list[zl.Masks] = field(default_factory=list)

    def __repr__(self) -> str:  # the masks are secret
        return f"ZlPreparedBatch(<{len(self.packs)} packs>)"


class ZeroLeakageWorker(ComparisonWorker):
    """The comparison worker for ``HRMON_COMPARISON_MODE=zero-leakage``."""

    def __init__(self, *args: Any, keys: ZeroLeakageKeys, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dgk_public = keys.public
        fits = zl.readings_per_pack(self.system_key)
        self.readings_per_pack = min(self.config.readings_per_pack or fits, fits)

    def _prepare(self, items: list[WorkItem]) -> PreparedBatch:
        """Steps a1-a2 and PDec_1, packs grouped by patient (runs in a worker thread)."""
        pk = self.system_key
        differences: dict[str, tuple[int, int, int]] = {}
        usable: list[WorkItem] = []
        invalid: list[str] = []
        for item in items:
            try:
                reading, bounds = decode_work_item(pk, item)
            except CiphertextError:  # validated on arrival; only a damaged row gets here
                invalid.append(item.reading_id)
                continue
            differences[item.reading_id] = cmp.a1_differences(pk, reading, bounds)
            usable.append(item)
        groups = pack_groups(usable, self.readings_per_pack, self._isolate)
        if not groups:
            return ZlPreparedBatch(None, [], invalid)
        packs, all_masks = [], []
        for group in groups:
            slots = [d for item in group for d in differences[item.reading_id]]
            masks = zl.draw_masks(len(slots))
            packed = zl.a2_mask_and_pack(pk, slots, masks, self.noise.take(pk))
            packs.append(
                ZlPack(
                    ciphertext=encode_ciphertext(pk, packed),
                    pdec1=encode_ciphertext(pk, self.share.partial_decrypt(packed)),
                    slots=len(slots),
                )
            )
            all_masks.append(masks)
        request = ZlOpenRequest(
            system_key_id=key_id(pk), dgk_key_id=self.dgk_public.key_id, packs=packs
        )
        return ZlPreparedBatch(None, groups, invalid, open_request=request, masks=all_masks)

    async def _compare(self, batch: PreparedBatch) -> tuple[dict[str, str], list[str], set[str]]:
        """Both rounds with B for a prepared batch."""
        if not isinstance(batch, ZlPreparedBatch) or batch.open_request is None:
            return {}, [], set()
        opened = await self._post("/v1/zl/open", batch.open_request, ZlOpenResponse)
        if len(opened.packs) != len(batch.packs):
            raise BUnavailable("open answer count does not match the packs sent")
        invalid: list[str] = []
        isolate: set[str] = set()
        accepted: list[tuple[list[WorkItem], zl.Masks, list[str]]] = []
        width = zl.DEFAULT_ZL_PARAMS.terms_per_check
        for group, masks, answer in zip(batch.packs, batch.masks, opened.packs, strict=True):
            if answer.status == "out_of_band":
                if len(group) == 1:
                    invalid.append(group[0].reading_id)
                else:
                    isolate.update(i.reading_id for i in group)
                continue
            if len(answer.bits) != width * len(masks):
                raise BUnavailable("a pack's DGK bit count does not match its slots")
            accepted.append((group, masks, answer.bits))
        if not accepted:
            return {}, invalid, isolate
        request = await asyncio.to_thread(self._round_two, accepted)
        answered = await self._post("/v1/zl/answer", request, ZlAnswerResponse)
        items = [item for group, _, _ in accepted for item in group]
        if len(answered.answers) != len(items):
            raise BUnavailable("answer count does not match the readings sent")
        done: dict[str, str] = {}
        for item, text in zip(items, answered.answers, strict=True):
            try:
                decode_ciphertext(self._physician_key(item.physician_n), text, "answer")
            except CiphertextError:
                raise BUnavailable("an answer is not a ciphertext under pk_D") from None
            done[item.reading_id] = text
        return done, invalid, isolate

    def _round_two(
        self, accepted: list[tuple[list[WorkItem], zl.Masks, list[str]]]
    ) -> ZlAnswerRequest:
        """Steps a3-a4 for every reading of the accepted packs (runs in a worker thread).

        Raises:
            BUnavailable: B's DGK ciphertexts are malformed.
        """
        dgk_pk = self.dgk_public
        readings: list[ZlReading] = []
        physician_keys: dict[str, PhysicianPublicKey] = {}
        width = zl.DEFAULT_ZL_PARAMS.terms_per_check * CHECKS_PER_READING
        for group, masks, texts in accepted:
            try:
                bits = [dgk.decode_ciphertext(dgk_pk, t, "bits") for t in texts]
            except dgk.DgkError:
                raise BUnavailable("B's DGK bits are not ciphertexts under its key") from None
            terms = zl.a3_bitwise_terms(dgk_pk, bits, masks)
            keys_d = [self._physician_key(item.physician_n) for item in group]
            tables = zl.a4_answer_tables(keys_d, masks, self.noise.take)
            for j, (item, pk_d, table) in enumerate(zip(group, keys_d, tables, strict=True)):
                pk_d_id = key_id(pk_d)
                physician_keys.setdefault(
                    pk_d_id, PhysicianPublicKey(key_id=pk_d_id, n=item.physician_n)
                )
                readings.append(
                    ZlReading(
                        physician_key_id=pk_d_id,
                        terms=[
                            dgk.encode_ciphertext(dgk_pk, c)
                            for c in terms[width * j : width * (j + 1)]
                        ],
                        table=[encode_ciphertext(pk_d, c) for c in table],
                    )
                )
        return ZlAnswerRequest(
            dgk_key_id=dgk_pk.key_id,
            physician_keys=list(physician_keys.values()),
            readings=readings,
        )

    async def _post(self, path: str, request: BaseModel, response_type: type[Response]) -> Response:
        """One signed call to B.

        Raises:
            BUnavailable: B is down, slow, refused the call or answered nonsense.
        """
        assert self._http is not None
        body = request.model_dump_json().encode()
        headers = {"content-type": "application/json"}
        headers.update(signature_headers(self.config.ab_secret, body))
        try:
            response = await self._http.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BUnavailable(type(exc).__name__) from None
        if path.endswith("/open"):
            self.batches_sent += 1
        if response.status_code != 200:
            raise BUnavailable(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response_type.model_validate_json(response.content)
        except ValidationError:
            raise BUnavailable(f"malformed answer from {path}") from None


def worker_for_mode(
    key_dir: Path | None, allow_insecure_test_keys: bool
) -> Callable[..., ComparisonWorker]:
    """The worker class for ``HRMON_COMPARISON_MODE`` (DGK public key loaded and checked).

    Raises:
        service_common.keyfiles.KeyFileError: zero-leakage mode without a usable DGK key file.
    """
    keys = zero_leakage_keys(
        key_dir, secret=False, allow_insecure_test_keys=allow_insecure_test_keys
    )
    if keys is None:
        return ComparisonWorker
    return functools.partial(ZeroLeakageWorker, keys=keys)
