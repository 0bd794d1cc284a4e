"""Server B settings (environment ``HRMON_B_*``), checked at start: no share, no start."""

from __future__ import annotations

import functools

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import SettingsConfigDict

from protocol import dgk
from service_common.key_dir import DGK_SECRET, SHARE_B
from service_common.keyfiles import load_dgk_secret
from service_common.settings import ServerSettings
from service_common.tls import TLS_B_CERT, TLS_B_KEY


class Settings(ServerSettings):
    """Where B's key files are, which mode it answers, and how it serves.

    Environment: ``HRMON_B_KEY_DIR`` (directory made by ``hrmon setup``), or
    ``HRMON_B_SHARE_FILE`` / ``HRMON_B_AB_SECRET_FILE`` for the two files separately;
    ``HRMON_B_MAX_BODY_BYTES``, ``HRMON_B_MAX_CLOCK_SKEW_S``, ``HRMON_B_NOISE_POOL_SIZE``,
    ``HRMON_B_NOISE_POOL_KEYS``; ``HRMON_COMPARISON_MODE``, ``HRMON_DGK_KEY_FILE`` and
    ``HRMON_ALLOW_INSECURE_TEST_KEYS=1`` (tests only), as on A.
    """

    model_config = SettingsConfigDict(env_prefix="HRMON_B_", extra="ignore", populate_by_name=True)

    SHARE_FILE = SHARE_B
    SHARE_INDEX = 2
    TLS_CERT, TLS_KEY = TLS_B_CERT, TLS_B_KEY

    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_clock_skew_s: int = Field(default=60, gt=0, le=600)
    noise_pool_size: int = Field(default=64, ge=0, le=4096)
    noise_pool_keys: int = Field(default=64, ge=1, le=10_000)

    _dgk_secret: dgk.DgkSecretKey | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_dgk_key(self) -> Settings:
        if self.comparison_mode == "zero-leakage":
            self._dgk_secret = load_dgk_secret(
                self.dgk_file(DGK_SECRET), allow_insecure_test_keys=self.allow_insecure_test_keys
            )
        return self

    @property
    def dgk_secret(self) -> dgk.DgkSecretKey:
        """B's DGK secret key (zero-leakage mode only), loaded and checked at start."""
        assert self._dgk_secret is not None, "only in zero-leakage mode"
        return self._dgk_secret


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, read once."""
    return Settings()
