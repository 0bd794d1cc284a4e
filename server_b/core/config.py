"""Server B settings (environment ``HRMON_B_*``), checked at start: no share, no start."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.keys import KeyShare
from service_common.keyfiles import load_secret, load_share

SHARE_FILE_NAME = "share_b.json"
AB_SECRET_FILE_NAME = "ab_secret"  # noqa: S105 (a file name)


class Settings(BaseSettings):
    """Where B's key files are and how B serves.

    Environment: ``HRMON_B_KEY_DIR`` (directory made by ``hrmon setup``), or
    ``HRMON_B_SHARE_FILE`` / ``HRMON_B_AB_SECRET_FILE`` for the two files separately;
    ``HRMON_B_MAX_BODY_BYTES``, ``HRMON_B_MAX_CLOCK_SKEW_S``, ``HRMON_B_NOISE_POOL_SIZE``,
    ``HRMON_B_NOISE_POOL_KEYS``; ``HRMON_ALLOW_INSECURE_TEST_KEYS=1`` (tests only).
    """

    model_config = SettingsConfigDict(env_prefix="HRMON_B_", extra="ignore", populate_by_name=True)

    key_dir: Path | None = None
    share_file: Path | None = None
    ab_secret_file: Path | None = None
    allow_insecure_test_keys: bool = Field(
        default=False,
        validation_alias=AliasChoices("HRMON_ALLOW_INSECURE_TEST_KEYS", "allow_insecure_test_keys"),
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_clock_skew_s: int = Field(default=60, gt=0, le=600)
    noise_pool_size: int = Field(default=64, ge=0, le=4096)
    noise_pool_keys: int = Field(default=64, ge=1, le=10_000)

    _share: KeyShare | None = PrivateAttr(default=None)
    _ab_secret: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_key_files(self) -> Settings:
        share_file = self.share_file or (self.key_dir and self.key_dir / SHARE_FILE_NAME)
        secret_file = self.ab_secret_file or (self.key_dir and self.key_dir / AB_SECRET_FILE_NAME)
        if share_file is None or secret_file is None:
            raise ValueError(
                "set HRMON_B_KEY_DIR (or HRMON_B_SHARE_FILE and HRMON_B_AB_SECRET_FILE)"
            )
        self._share = load_share(
            share_file, 2, allow_insecure_test_keys=self.allow_insecure_test_keys
        )
        self._ab_secret = SecretStr(load_secret(secret_file, "A-B secret"))
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


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, read once."""
    return Settings()
