"""What the dashboard needs at start: the physician's profile and key pair, from their home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from physician import keys as physician_keys
from physician import profile as physician_profile
from physician.keys import PhysicianKeyPair
from physician.profile import PhysicianProfile


@dataclass(frozen=True)
class DashboardConfig:
    """The physician's server-A profile and key pair (sk_D stays in this process).

    Attributes:
        home: the physician's directory (``physician_key.json``, ``profile.json``).
        profile: server A's URL, the username and the pinned system key id.
        keys: pk_D and sk_D.
    """

    home: Path
    profile: PhysicianProfile
    keys: PhysicianKeyPair

    def __repr__(self) -> str:
        return f"DashboardConfig(home={self.home!s}, server={self.profile.server!r})"

    @classmethod
    def load(cls, home: Path, server: str | None = None) -> DashboardConfig:
        """Read the profile and key pair; ``server`` overrides the profile's URL.

        Raises:
            ConfigError: no key pair or profile in ``home`` (run keygen and enrol first).
        """
        keys = physician_keys.load(home)
        profile = physician_profile.load(home)
        if server:
            profile = PhysicianProfile(server, profile.username, profile.system_key_id)
        return cls(home=home, profile=profile, keys=keys)
