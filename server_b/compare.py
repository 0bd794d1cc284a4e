"""B's side of the comparison: check a ``CompareRequest`` and answer each pack (steps b1-b3).

All validation happens before any partial decryption, so a bad request costs B nothing
and a 422 names the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol import comparison as cmp
from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.keys import KeyShare, ShareError
from protocol.messages import CompareRequest, CompareResponse, PackAnswer
from protocol.paillier import PublicKey, key_id


class FieldError(ValueError):
    """A request field is wrong; the message starts with the field's path."""


@dataclass(frozen=True)
class DecodedPack:
    """One pack's integers and the keys of its readings' tables, in slot order."""

    ciphertext: int
    pdec1: int
    tables: list[tuple[PublicKey, list[int]]]


def decode_request(
    request: CompareRequest, share: KeyShare, min_physician_bits: int
) -> list[DecodedPack]:
    """Check every key id and ciphertext of ``request`` against the right key.

    Raises:
        FieldError: naming the first bad field.
    """
    system = share.public_key
    if request.system_key_id != key_id(system):
        raise FieldError("system_key_id: not this server's system key")
    physician_keys: dict[str, PublicKey] = {}
    for i, pk_entry in enumerate(request.physician_keys):
        pk_d = PublicKey(int(pk_entry.n, 16))
        if key_id(pk_d) != pk_entry.key_id:
            raise FieldError(f"physician_keys[{i}].key_id: does not match its modulus")
        n_d: int = pk_d.n
        if n_d.bit_length() < min_physician_bits or n_d % 2 == 0:
            raise FieldError(
                f"physician_keys[{i}].n: not a modulus of >= {min_physician_bits} bits"
            )
        physician_keys[pk_entry.key_id] = pk_d
    capacity = cmp.readings_per_pack(system)
    packs = []
    for p, pack in enumerate(request.packs):
        where = f"packs[{p}]"
        if len(pack.readings) > capacity:
            raise FieldError(f"{where}.readings: {len(pack.readings)} do not fit one pack")
        tables = []
        for r, reading in enumerate(pack.readings):
            pk_d_or_none = physician_keys.get(reading.physician_key_id)
            if pk_d_or_none is None:
                raise FieldError(
                    f"{where}.readings[{r}].physician_key_id: not among physician_keys"
                )
            table = [
                _decode(pk_d_or_none, text, f"{where}.readings[{r}].table[{t}]")
                for t, text in enumerate(reading.table)
            ]
            tables.append((pk_d_or_none, table))
        packs.append(
            DecodedPack(
                _decode(system, pack.ciphertext, f"{where}.ciphertext"),
                _decode(system, pack.pdec1, f"{where}.pdec1"),
                tables,
            )
        )
    return packs


def _decode(public_key: PublicKey, text: str, field: str) -> int:
    try:
        return decode_ciphertext(public_key, text, field)
    except CiphertextError as exc:
        raise FieldError(str(exc)) from None


def answer_packs(
    share: KeyShare, packs: list[DecodedPack], noise: Callable[[PublicKey], int]
) -> CompareResponse:
    """Steps b1-b3 per pack.

    A pack with a slot outside the honest band is answered ``out_of_band`` (A then
    isolates the bad reading); the other packs are unaffected.

    Raises:
        FieldError: a pack's ``pdec1`` is not A's partial decryption under this key.
    """
    system = share.public_key
    answers = []
    for p, pack in enumerate(packs):
        try:
            bits = cmp.b_answer_pack(share, system, pack.ciphertext, pack.pdec1, pack.tables, noise)
        except ShareError:
            raise FieldError(
                f"packs[{p}].pdec1: does not combine with this server's share"
            ) from None
        except cmp.SlotOutOfBand:
            answers.append(PackAnswer(status="out_of_band"))
            continue
        encoded = [
            encode_ciphertext(pk_d, c) for (pk_d, _), c in zip(pack.tables, bits, strict=True)
        ]
        answers.append(PackAnswer(status="ok", answers=encoded))
    return CompareResponse(packs=answers)
