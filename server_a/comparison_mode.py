"""A's half of the configured comparison mode, and the jobs it works on.

:class:`ModeSpec` is what builds the half (picklable, so the crypto process builds its
own copy with its own noise pools); :func:`jobs_of` decodes what storage holds, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from protocol import comparison as cmp
from protocol import dgk
from protocol.ciphertext import CiphertextError, decode_ciphertext
from protocol.keys import KeyShare
from protocol.messages import PhysicianPublicKey
from protocol.modes import ModeName
from protocol.modes.base import Job, ModeA, Noise
from protocol.modes.baseline import BaselineA
from protocol.modes.zero_leakage import ZeroLeakageA
from protocol.paillier import PublicKey, unsafe_encrypt_without_noise
from protocol.params import DEFAULT_PARAMS
from server_a.core.config import Settings
from server_a.storage import WorkItem


@dataclass(frozen=True)
class ModeSpec:
    """Which mode, with SK1, B's DGK public key (zero-leakage), the pack size cap and
    whether B's partial decryption runs at the same time as A's."""

    name: ModeName
    share: KeyShare
    dgk_public: dgk.DgkPublicKey | None
    readings_per_pack: int
    pdec_ahead: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ModeSpec:
        zero_leakage = settings.comparison_mode == "zero-leakage"
        return cls(
            settings.comparison_mode,
            settings.share,
            settings.dgk_public if zero_leakage else None,
            settings.readings_per_pack,
            settings.pdec_ahead,
        )

    def build(
        self, noise: Noise, dgk_factors: Callable[[int], list[int]] | None = None
    ) -> ModeA[Any]:
        """A's half, drawing r^N from ``noise`` and, zero-leakage, DGK re-randomisers from
        ``dgk_factors`` (fresh ones when None)."""
        if self.dgk_public is not None:
            return ZeroLeakageA(
                self.share,
                self.dgk_public,
                noise,
                self.readings_per_pack,
                pdec_ahead=self.pdec_ahead,
                dgk_factors=dgk_factors,
            )
        return BaselineA(self.share, noise, self.readings_per_pack, pdec_ahead=self.pdec_ahead)


RHYTHM_CHECK_OFF = (1 << DEFAULT_PARAMS.value_bits) - 1
"""rho for a range stored before the rhythm check existed: no encoded index (at most
10^4) reaches it, so such a range judges what it judged before until the physician edits it."""


def _stored_or(system_key: PublicKey, text: str | None, where: str, default: int) -> int:
    """A stored ciphertext, or for a row older than its column (or a device older than its
    field) E(default) without noise: the value is public, and B only sees it blinded
    inside a re-randomised pack."""
    if text is None:
        return unsafe_encrypt_without_noise(system_key, default)
    return decode_ciphertext(system_key, text, where)


def jobs_of(
    system_key: PublicKey, items: Sequence[WorkItem], physician_keys: dict[str, PublicKey]
) -> tuple[list[Job], list[str]]:
    """Stored readings as jobs, and the ids of rows that no longer decode.

    Every value was checked on arrival; only a damaged row fails here, and it is marked
    ``invalid`` rather than retried forever. ``physician_keys`` caches pk_D by modulus.
    """
    jobs: list[Job] = []
    damaged: list[str] = []
    for item in items:
        try:
            reading = cmp.EncryptedReading(
                decode_ciphertext(system_key, item.heart_rate, "heart_rate"),
                decode_ciphertext(system_key, item.score, "score"),
                # a reading stored before the rhythm check: "not judged"
                _stored_or(system_key, item.irregularity, "irregularity", 0),
                # a device older than the flag always had a heart rate
                _stored_or(system_key, item.rate_missing, "rate_missing", 0),
            )
            bounds = cmp.EncryptedBounds(
                decode_ciphertext(system_key, item.low, "low"),
                decode_ciphertext(system_key, item.high, "high"),
                decode_ciphertext(system_key, item.threshold, "threshold"),
                _stored_or(
                    system_key,
                    item.irregularity_threshold,
                    "irregularity_threshold",
                    RHYTHM_CHECK_OFF,
                ),
            )
        except CiphertextError:
            damaged.append(item.reading_id)
            continue
        pk_d = physician_keys.get(item.physician_n)
        if pk_d is None:
            pk_d = physician_keys[item.physician_n] = PublicKey(int(item.physician_n, 16))
        entry = PhysicianPublicKey(key_id=item.physician_key_id, n=item.physician_n)
        jobs.append(Job(item.reading_id, item.patient_id, reading, bounds, entry, pk_d))
    return jobs, damaged
