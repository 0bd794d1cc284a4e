"""The physician's own Paillier key pair: made, stored (0600) and used on their machine only.

Only ``physician_public.json`` (``{"key_id", "n"}``) is ever sent to server A. The result
bits and tallies that come back are decrypted here with ``sk_D``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.errors import ConfigError
from client.local_files import read_json, write_json
from protocol.ciphertext import CiphertextError, decode_ciphertext
from protocol.paillier import PrivateKey, PublicKey, decrypt_small, generate_keypair, key_id
from protocol.params import DEFAULT_KEY_BITS

PRIVATE_FILE = "physician_key.json"
PUBLIC_FILE = "physician_public.json"
_KIND = "hrmon-physician-key"


class ResultDecodeError(ConfigError):
    """A result did not decrypt to a bit (wrong key pair, or a tampered result)."""


@dataclass(frozen=True)
class PhysicianKeyPair:
    """pk_D and sk_D."""

    public_key: PublicKey
    private_key: PrivateKey

    def __repr__(self) -> str:  # never print the factors
        return f"PhysicianKeyPair(key_id={self.key_id}, private=<secret>)"

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def public_json(self) -> dict[str, Any]:
        """The body A registers: ``{"key_id", "n"}``."""
        n: int = self.public_key.n
        return {"key_id": self.key_id, "n": hex(n)}

    def decrypt_value(self, ciphertext_b64: str, field: str = "result") -> int:
        """Decrypt a base64 ciphertext made under pk_D whose plaintext is small (a bit, a
        count): modulo the smaller prime only (``protocol.paillier.decrypt_small``).

        Raises:
            ResultDecodeError: malformed, or not a ciphertext under this key.
        """
        try:
            ciphertext = decode_ciphertext(self.public_key, ciphertext_b64, field)
        except CiphertextError as exc:
            raise ResultDecodeError(f"{exc} (is this the physician key it was made for?)") from None
        return decrypt_small(self.private_key, ciphertext)

    def decrypt_bit(self, ciphertext_b64: str) -> bool:
        """A result: ``True`` abnormal (1), ``False`` normal (0).

        Raises:
            ResultDecodeError: it decrypts to something other than 0 or 1.
        """
        value = self.decrypt_value(ciphertext_b64)
        if value not in (0, 1):
            raise ResultDecodeError("a result did not decrypt to 0 or 1: wrong key or tampering")
        return value == 1

    def decrypt_count(self, ciphertext_b64: str, at_most: int) -> int:
        """A tally: the number of abnormal readings among ``at_most``.

        Raises:
            ResultDecodeError: it decrypts to more than ``at_most``.
        """
        value = self.decrypt_value(ciphertext_b64, "tally")
        if not 0 <= value <= at_most:
            raise ResultDecodeError(f"the tally is not a count of at most {at_most} readings")
        return value


def generate(bits: int = DEFAULT_KEY_BITS) -> PhysicianKeyPair:
    """A fresh physician key pair (phe)."""
    public_key, private_key = generate_keypair(bits)
    return PhysicianKeyPair(public_key, private_key)


def save(pair: PhysicianKeyPair, directory: Path, *, overwrite: bool = False) -> None:
    """Write ``physician_key.json`` (0600) and ``physician_public.json``.

    Raises:
        ConfigError: a key already exists there and ``overwrite`` is False.
    """
    private = {
        "kind": _KIND,
        "key_id": pair.key_id,
        "n": hex(pair.public_key.n),
        "p": hex(pair.private_key.p),
        "q": hex(pair.private_key.q),
    }
    write_json(directory / PRIVATE_FILE, private, secret=True, overwrite=overwrite)
    write_json(directory / PUBLIC_FILE, pair.public_json(), secret=False, overwrite=overwrite)


def load(directory: Path) -> PhysicianKeyPair:
    """Read the key pair written by :func:`save`.

    Raises:
        ConfigError: missing, malformed, or p*q != n.
    """
    path = directory / PRIVATE_FILE
    data = read_json(path, "physician key (run `hrmon physician keygen` first)")
    try:
        if data.get("kind") != _KIND:
            raise ValueError
        n, p, q = (int(str(data[name]), 16) for name in ("n", "p", "q"))
    except (KeyError, ValueError):
        raise ConfigError(f"{path} is not an hrmon physician key file") from None
    if p * q != n or p == q:
        raise ConfigError(f"{path} is corrupted: its factors do not match its modulus")
    public_key = PublicKey(n)
    return PhysicianKeyPair(public_key, PrivateKey(public_key, p, q))
