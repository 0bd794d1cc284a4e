"""The system public key as clients pin it: ``{"key_id", "n", "bits"}`` (docs/api.md).

Clients encrypt only under a key whose fingerprint matches the one pinned at setup, so a
server that swaps in its own key gets refused, not fed plaintext-equivalent ciphertexts.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from client.errors import ConfigError, KeyMismatch
from protocol.paillier import PublicKey, key_id


@dataclass(frozen=True)
class SystemPublicKey:
    """The system modulus with its fingerprint and size."""

    n: int
    key_id: str
    bits: int

    @classmethod
    def from_public_key(cls, public_key: PublicKey) -> SystemPublicKey:
        n: int = public_key.n
        return cls(n=n, key_id=key_id(public_key), bits=n.bit_length())

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.n)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "n": hex(self.n), "bits": self.bits}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "system key") -> SystemPublicKey:
        """Parse and check that ``key_id`` really is the fingerprint of ``n``.

        Raises:
            ConfigError: malformed, or the fingerprint does not match the modulus.
        """
        try:
            n = int(str(data["n"]), 16)
            claimed = str(data["key_id"])
        except (KeyError, ValueError):
            raise ConfigError(f"{source}: needs 'n' (hex) and 'key_id'") from None
        if n < 3:
            raise ConfigError(f"{source}: modulus is not a valid Paillier modulus")
        key = cls.from_public_key(PublicKey(n))
        if not hmac.compare_digest(key.key_id, claimed):
            raise ConfigError(f"{source}: key_id does not match the modulus")
        return key


def check_pinned(server_key: SystemPublicKey, pinned_key_id: str) -> None:
    """Refuse to go on unless the server's system key is the pinned one.

    Raises:
        KeyMismatch: naming both fingerprints (public values) so the operator can compare.
    """
    if not hmac.compare_digest(server_key.key_id, pinned_key_id):
        raise KeyMismatch(
            f"server A's system key {server_key.key_id} is not the pinned key "
            f"{pinned_key_id}; refusing to encrypt anything under it"
        )
