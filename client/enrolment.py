"""The enrolment invitation a physician hands to a new device: server A's URL, the
fingerprint of the system key the physician pinned, and a one-time code.

One line of text, ``hrmon-enrol:1:`` + base64url(JSON), shown on the dashboard and as a
QR code; ``hrmon device enrol INVITATION`` redeems it. The fingerprint lets the device pin
the right key without trusting whatever answers on the URL: a server that serves another
key is refused before the code is spent. The code works once, for 24 hours (server A).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from client import device_config
from client.api import ServerAClient
from client.device_config import DeviceConfig
from client.errors import InputError
from client.system_key import check_pinned

PREFIX = "hrmon-enrol:1:"
MAX_CHARS = 2048


@dataclass(frozen=True)
class Invitation:
    """What the new device needs; ``code`` is secret until it is redeemed."""

    server: str
    key_id: str
    code: str

    def __repr__(self) -> str:
        return f"Invitation(server={self.server!r}, key_id={self.key_id!r}, code=<secret>)"

    def encode(self) -> str:
        data = {"server": self.server, "key_id": self.key_id, "code": self.code}
        packed = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return PREFIX + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode(text: str) -> Invitation:
    """Parse an invitation.

    Raises:
        InputError: naming what is wrong (never echoing the code).
    """
    text = "".join(text.split())
    if len(text) > MAX_CHARS:
        raise InputError(f"the invitation is {len(text)} characters; at most {MAX_CHARS}")
    if not text.startswith(PREFIX):
        raise InputError(f"not an hrmon enrolment invitation (it must start with {PREFIX})")
    body = text.removeprefix(PREFIX)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise InputError("the invitation is damaged (not base64url JSON): copy it again") from None
    fields = ("server", "key_id", "code")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in fields):
        raise InputError("the invitation is damaged (it must name server, key_id and code)")
    server = data["server"]
    if not server.startswith(("http://", "https://")):
        raise InputError("the invitation's server is not an http(s) URL")
    return Invitation(server, data["key_id"], data["code"])


def redeem(text: str, config_path: Path) -> DeviceConfig:
    """Redeem an invitation and write the device file (0600).

    Raises:
        InputError: a malformed invitation.
        ConfigError: ``config_path`` exists (a device file is never overwritten).
        KeyMismatch: server A serves another system key than the invitation names.
        ApiError: the code is unknown, used or expired (404), or A refused otherwise.
    """
    invitation = decode(text)
    device_config.refuse_existing(config_path)
    with ServerAClient(invitation.server) as api:
        system = api.system_key()
        check_pinned(system, invitation.key_id)  # before the code is spent
        created = api.redeem_enrolment_code(invitation.code)
    config = DeviceConfig(invitation.server, created.patient_id, created.device_token, system)
    device_config.save(config, config_path)
    return config
