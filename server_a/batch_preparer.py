"""A's crypto for one batch: steps a1, a2, a4 per reading, a3 per pack, and PDec_1.

Runs off the event loop: in a thread, or (default) in a separate process so that the
exponentiations, which hold the GIL in gmpy2, never stall submissions or event streams.
Every reading costs the same work whatever its values.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from protocol import comparison as cmp
from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.keys import KeyShare
from protocol.messages import CompareRequest, Pack, PhysicianPublicKey, ReadingTable
from protocol.paillier import PublicKey, key_id
from server_a.storage import WorkItem
from service_common.noise import NoisePoolCache


def decode_work_item(
    pk: PublicKey, item: WorkItem
) -> tuple[cmp.EncryptedReading, cmp.EncryptedBounds]:
    """A stored reading and its patient's range as ciphertexts under the system key.

    Raises:
        CiphertextError: a stored value is damaged (all were validated on arrival).
    """
    reading = cmp.EncryptedReading(
        decode_ciphertext(pk, item.heart_rate, "heart_rate"),
        decode_ciphertext(pk, item.score, "score"),
    )
    bounds = cmp.EncryptedBounds(
        decode_ciphertext(pk, item.low, "low"),
        decode_ciphertext(pk, item.high, "high"),
        decode_ciphertext(pk, item.threshold, "threshold"),
    )
    return reading, bounds


def pack_groups(
    items: Sequence[WorkItem], per_pack: int, isolate: Collection[str] = ()
) -> list[list[WorkItem]]:
    """Readings that may share one packed ciphertext: one patient's readings only.

    A crafted out-of-bound value (e.g. score = tau - 2^(k-1)) borrows from the next slot
    while every slot stays inside the honest band, so no guard bit sees it; packing by
    patient confines that damage to the crafting device's own patient. Readings in
    ``isolate`` (re-runs after an out-of-band pack) get a pack each.
    """
    by_patient: defaultdict[str, list[WorkItem]] = defaultdict(list)
    for item in items:
        by_patient[item.patient_id].append(item)
    groups: list[list[WorkItem]] = []
    for patient_items in by_patient.values():
        groups.extend([i] for i in patient_items if i.reading_id in isolate)
        regular = [i for i in patient_items if i.reading_id not in isolate]
        groups.extend(regular[s : s + per_pack] for s in range(0, len(regular), per_pack))
    return groups


@dataclass
class PreparedBatch:
    """A request for B and, per pack, the readings in slot order; unusable rows apart."""

    request: CompareRequest | None
    packs: list[list[WorkItem]]
    invalid: list[str] = field(default_factory=list)


class BatchPreparer:
    """Holds SK1 and the noise pools; turns pending readings into one ``CompareRequest``."""

    def __init__(self, share: KeyShare, noise: NoisePoolCache, readings_per_pack: int) -> None:
        self.share = share
        self.system_key = share.public_key
        self.noise = noise
        self.readings_per_pack = readings_per_pack
        self._physician_keys: dict[str, PublicKey] = {}

    def physician_key(self, n_hex: str) -> PublicKey:
        """pk_D for a stored modulus, cached."""
        pk_d = self._physician_keys.get(n_hex)
        if pk_d is None:
            pk_d = PublicKey(int(n_hex, 16))
            self._physician_keys[n_hex] = pk_d
        return pk_d

    def prepare(self, items: list[WorkItem], isolate: Collection[str] = ()) -> PreparedBatch:
        """Readings in ``isolate`` get a pack each; the rest share packs per patient."""
        pk = self.system_key
        prepared: dict[str, cmp.PreparedReading] = {}
        usable: list[WorkItem] = []
        invalid: list[str] = []
        for item in items:
            try:
                reading, bounds = decode_work_item(pk, item)
            except CiphertextError:  # validated on arrival; only a damaged row gets here
                invalid.append(item.reading_id)
                continue
            pk_d = self.physician_key(item.physician_n)
            prepared[item.reading_id] = cmp.prepare_reading(
                pk, pk_d, reading, bounds, self.noise.pool(pk_d)
            )
            usable.append(item)
        groups = pack_groups(usable, self.readings_per_pack, isolate)
        if not groups:
            return PreparedBatch(None, [], invalid)
        packs = []
        physician_keys: dict[str, PhysicianPublicKey] = {}
        for group in groups:
            slots = [slot for i in group for slot in prepared[i.reading_id].slots]
            packed = cmp.a3_pack(pk, slots, self.noise.take(pk))
            tables = []
            for item in group:
                pk_d = self.physician_key(item.physician_n)
                pk_d_id = key_id(pk_d)
                physician_keys.setdefault(
                    pk_d_id, PhysicianPublicKey(key_id=pk_d_id, n=item.physician_n)
                )
                table = [encode_ciphertext(pk_d, c) for c in prepared[item.reading_id].answer_table]
                tables.append(ReadingTable(physician_key_id=pk_d_id, table=table))
            packs.append(
                Pack(
                    ciphertext=encode_ciphertext(pk, packed),
                    pdec1=encode_ciphertext(pk, self.share.partial_decrypt(packed)),
                    readings=tables,
                )
            )
        request = CompareRequest(
            system_key_id=key_id(pk), physician_keys=list(physician_keys.values()), packs=packs
        )
        return PreparedBatch(request, groups, invalid)


# --- the same in a child process -------------------------------------------------------

_process_preparer: BatchPreparer | None = None


def init_process(share_json: dict[str, object], noise_pool_size: int, per_pack: int) -> None:
    """Initializer of the crypto process: its own share copy, pools and filler thread."""
    global _process_preparer
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    noise = NoisePoolCache(noise_pool_size)
    noise.start()
    share = KeyShare.from_json(share_json)
    noise.pool(share.public_key)
    _process_preparer = BatchPreparer(share, noise, per_pack)


def _exit_with_parent(parent_pid: int) -> None:
    """A killed server A (SIGKILL: no shutdown hook) must not leave its crypto process behind."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)


def prepare_in_process(items: list[WorkItem], isolate: frozenset[str]) -> PreparedBatch:
    """:meth:`BatchPreparer.prepare` in the crypto process."""
    if _process_preparer is None:
        raise RuntimeError("crypto process not initialised")
    return _process_preparer.prepare(items, isolate)


def warm_up() -> bool:
    """A no-op task that makes the pool start its process (and run the initializer) now."""
    return _process_preparer is not None
