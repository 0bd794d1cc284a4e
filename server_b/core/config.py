"""Server B settings (environment ``HRMON_B_*``), checked at start: no share, no start."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from protocol import dgk
from protocol.keys import KeyShare
from service_common.key_dir import AB_SECRET, DGK_SECRET, SHARE_B
from service_common.keyfiles import load_dgk_secret, load_secret, load_share
from service_common.settings import ServerSettings


class Settings(ServerSettings):
    """Where B's key files are, which mode it answers, and how it serves.

    Environment: ``HRMON_B_KEY_DIR`` (directory made by ``hrmon setup``), or
    ``HRMON_B_SHARE_FILE`` / ``HRMON_B_AB_SECRET_FILE`` for the two files separately;
    ``HRMON_B_MAX_BODY_BYTES``, ``HRMON_B_MAX_CLOCK_SKEW_S``, ``HRMON_B_NOISE_POOL_SIZE``,
    ``HRMON_B_NOISE_POOL_KEYS``; ``HRMON_COMPARISON_MODE``, ``HRMON_DGK_KEY_FILE`` and
    ``HRMON_ALLOW_INSECURE_TEST_KEYS=1`` (tests only), as on A.
    """

    model_config = SettingsConfigDict(env_prefix="HRMON_B_", extra="ignore", populate_by_name=True)

    share_file: Path | None = None
    ab_secret_file: Path | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_clock_skew_s: int = Field(default=60, gt=0, le=600)
    noise_pool_size: int = Field(default=64, ge=0, le=4096)
    noise_pool_keys: int = Field(default=64, ge=1, le=10_000)

    _share: KeyShare | None = PrivateAttr(default=None)
    _ab_secret: SecretStr | None = PrivateAttr(default=None)
    _dgk_secret: dgk.DgkSecretKey | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_key_files(self) -> Settings:
        insecure = self.allow_insecure_test_keys
        self._share = load_share(
            self.key_file(self.share_file, SHARE_B), 2, allow_insecure_test_keys=insecure
        )
        self._ab_secret = SecretStr(
            load_secret(self.key_file(self.ab_secret_file, AB_SECRET), "A-B secret")
        )
        if self.comparison_mode == "zero-leakage":
            self._dgk_secret = load_dgk_secret(
                self.dgk_file(DGK_SECRET), allow_insecure_test_keys=insecure
            )
        return self

    @property
    def share(self) -> KeyShare:
        """SK2, loaded and checked at start."""
        assert self._share is not None
        return self._share

    @property
    def ab_secret(self) -> bytes:
        """The HMAC key server A signs with."""
        assert self._ab_secret is not None
        return self._ab_secret.get_secret_value().encode("utf-8")

    @property
    def dgk_secret(self) -> dgk.DgkSecretKey:
        """B's DGK secret key (zero-leakage mode only), loaded and checked at start."""
        assert self._dgk_secret is not None, "only in zero-leakage mode"
        return self._dgk_secret


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, read once."""
    return Settings()
