"""B's partial decryption computed ahead and sealed, so that PDec_1 and PDec_2 run at once.

A sends a pack's ciphertext c to ``POST /v1/partial-decryption`` *before* its own PDec_1;
B answers ``seal(PDec_2(c))`` and both exponentiations run at the same time. A then sends
the pack as before, with its PDec_1 and B's sealed share; B opens the seal instead of
computing PDec_2 again (docs/design.md, "PDec_1 and PDec_2 at once").

The seal is AES-256-GCM under a key derived from SK2 by HKDF: only B (any replica of
it) can open it, so A, which holds PDec_1, never holds PDec_2 in the clear and learns
nothing it did not before. The associated data binds the seal to c and the system key:
a seal cannot be used for another pack. B keeps nothing between the two messages, so
either server restarting between them only costs a retry, and a second B replica can
answer the second message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field

from protocol.ciphertext import ciphertext_length
from protocol.keys import KeyShare
from protocol.messages import MAX_PACKS_PER_REQUEST, Ciphertext, KeyId, SealedShare, Strict
from protocol.paillier import key_id

PARTIAL_DECRYPT = "/v1/partial-decryption"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_INFO = b"hrmon sealed PDec_2 v1"


class PartialDecryptRequest(Strict):
    """A -> B: the packs' ciphertexts, before A's own partial decryption of them."""

    system_key_id: KeyId
    ciphertexts: list[Ciphertext] = Field(min_length=1, max_length=MAX_PACKS_PER_REQUEST)


class PartialDecryptResponse(Strict):
    """B -> A: one sealed PDec_2 per ciphertext, in order."""

    sealed: list[SealedShare]


class SealError(ValueError):
    """A sealed share was not made by this B for this ciphertext."""


class ShareSealer:
    """B's side: PDec_2 of a ciphertext, sealed for B alone, and the seal opened again."""

    def __init__(self, share: KeyShare) -> None:
        self.share = share
        secret = share.value.to_bytes((share.value.bit_length() + 7) // 8, "big")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
        self._aead = AESGCM(key)
        self._width = ciphertext_length(share.public_key)
        self._key_id = key_id(share.public_key).encode("ascii")

    def __repr__(self) -> str:  # the AEAD key is secret
        return f"ShareSealer(index={self.share.index})"

    def _associated(self, ciphertext: int) -> bytes:
        digest = hashlib.sha256(ciphertext.to_bytes(self._width, "big")).digest()
        return _INFO + self._key_id + digest

    def seal(self, ciphertext: int) -> str:
        """seal(PDec_2(c)), bound to c: the one exponentiation of B's half here."""
        pdec2 = self.share.partial_decrypt(ciphertext)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, pdec2.to_bytes(self._width, "big"), self._associated(ciphertext)
        )
        return base64.b64encode(nonce + sealed).decode("ascii")

    def unseal(self, ciphertext: int, text: str) -> int:
        """PDec_2(c) from its seal.

        Raises:
            SealError: the seal is malformed, forged, or made for another ciphertext.
        """
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SealError("not valid base64") from None
        if len(raw) != _NONCE_BYTES + self._width + _TAG_BYTES:
            raise SealError("wrong length for this system key")
        try:
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._associated(ciphertext)
            )
        except InvalidTag:
            raise SealError("not sealed by this server for this ciphertext") from None
        return int.from_bytes(plain, "big")
