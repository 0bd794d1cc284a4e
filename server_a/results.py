"""Results as the physician sees them, and the homomorphic tally over a window."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from protocol.ciphertext import decode_ciphertext, encode_ciphertext
from protocol.messages import ResultOut
from protocol.paillier import PublicKey, add
from server_a.models import Reading


def result_out(row: Reading) -> ResultOut:
    """A stored reading as ``ResultOut`` (``result`` only once done)."""
    return ResultOut(
        reading_id=UUID(row.id),
        patient_id=UUID(row.patient_id),
        taken_at=row.taken_at,
        received_at=row.received_at,
        status=row.status,  # type: ignore[arg-type]  # the column only holds the three states
        result=row.result if row.status == "done" else None,
    )


def physician_public_key(n_hex: str) -> PublicKey:
    """pk_D from its stored hex modulus."""
    return PublicKey(int(n_hex, 16))


def homomorphic_tally(physician_n_hex: str, results: Sequence[str]) -> str | None:
    """Enc_pkD(sum of bits) = product of the stored Enc_pkD(bit) mod N_D^2; None if empty."""
    if not results:
        return None
    pk_d = physician_public_key(physician_n_hex)
    total = add(pk_d, *(decode_ciphertext(pk_d, text, "result") for text in results))
    return encode_ciphertext(pk_d, total)
