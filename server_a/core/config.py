"""Server A settings (environment ``HRMON_A_*``), checked at start: weak config, no start."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from protocol import dgk
from protocol.keys import KeyShare
from protocol.paillier import key_id
from server_a.b_client import b_replicas
from service_common.key_dir import (
    DGK_PUBLIC,
    ENROLMENT_TOKEN,
    JWT_SECRET,
    SHARE_A,
    SYSTEM_PUBLIC,
)
from service_common.keyfiles import KeyFileError, load_dgk_public, load_secret
from service_common.settings import ServerSettings
from service_common.tls import TLS_A_CERT, TLS_A_KEY


class Settings(ServerSettings):
    """Everything server A reads: key files, database, where B is, the comparison mode,
    how the worker batches and how fast a device may submit.

    Environment: ``HRMON_A_KEY_DIR`` (directory made by ``hrmon setup``: share_a.json,
    ab_secret, jwt_secret, enrolment_token, system_public.json) or the ``*_FILE`` variables
    one by one; ``HRMON_A_DATABASE_URL`` (or ``DATABASE_URL``); ``HRMON_A_SERVER_B_URL``;
    ``HRMON_COMPARISON_MODE``, ``HRMON_DGK_KEY_FILE`` and ``HRMON_ALLOW_INSECURE_TEST_KEYS=1``
    (tests only), as on B; tuning knobs below.
    """

    model_config = SettingsConfigDict(env_prefix="HRMON_A_", extra="ignore", populate_by_name=True)

    SHARE_FILE = SHARE_A
    SHARE_INDEX = 1
    TLS_CERT, TLS_KEY = TLS_A_CERT, TLS_A_KEY

    jwt_secret_file: Path | None = None
    enrolment_token_file: Path | None = None
    database_url: str = Field(
        default="sqlite:///./hrmon-a.sqlite3",
        validation_alias=AliasChoices("HRMON_A_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    server_b_url: str = Field(
        default="http://127.0.0.1:8002",
        description="server B, or its stateless replicas separated by commas (used in turn)",
    )
    access_token_minutes: int = Field(default=15, gt=0, le=24 * 60)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    readings_per_pack: int = Field(default=0, ge=0, le=16, description="0: as many as fit")
    batch_max_readings: int = Field(default=32, ge=1, le=1024)
    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    max_in_flight: int = Field(default=2, ge=1, le=16)
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    retry_base_s: float = Field(default=0.1, gt=0, le=10)
    retry_cap_s: float = Field(default=5.0, gt=0, le=300)
    b_timeout_s: float = Field(default=30.0, gt=0, le=600)
    noise_pool_size: int = Field(default=32, ge=0, le=4096)
    comparison_worker: bool = Field(
        default=True, description="off: an API replica that only stores and serves"
    )
    claim_lease_s: float = Field(
        default=120.0,
        ge=1,
        le=3600,
        description="how long a worker holds a claimed batch; a dead worker's readings "
        "go to another after this",
    )
    pdec_ahead: bool = Field(
        default=True, description="B's partial decryption at the same time as A's"
    )
    crypto_processes: int = Field(default=1, ge=0, le=8, description="0: a thread instead")
    crypto_nice: int = Field(
        default=10, ge=0, le=19, description="niceness of the crypto processes (devices first)"
    )
    device_rate_per_s: float = Field(default=5.0, gt=0, le=10_000)
    device_burst: int = Field(default=60, ge=1, le=100_000)
    max_tracked_devices: int = Field(default=100_000, ge=1)
    login_burst: int = Field(default=10, ge=1, le=1000, description="tries per username")
    login_rate_per_s: float = Field(default=1 / 30, gt=0, le=100)
    client_login_burst: int = Field(default=30, ge=1, le=10_000, description="tries per client")
    client_login_rate_per_s: float = Field(default=0.5, gt=0, le=1000)
    max_concurrent_hashes: int = Field(default=2, ge=1, le=64)

    _jwt_secret: SecretStr | None = PrivateAttr(default=None)
    _enrolment_token: SecretStr | None = PrivateAttr(default=None)
    _dgk_public: dgk.DgkPublicKey | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_key_files(self) -> Settings:
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "database_url: only sqlite:/// and postgresql+psycopg:// are supported"
            )
        b_replicas(self.server_b_url)  # a bad list stops the start, naming the setting
        if self.share_file is None and self.key_dir is not None:
            _check_system_public(self.key_dir / SYSTEM_PUBLIC, self.share)
        self._jwt_secret = SecretStr(
            load_secret(self.key_file(self.jwt_secret_file, JWT_SECRET), "JWT secret")
        )
        self._enrolment_token = SecretStr(
            load_secret(
                self.key_file(self.enrolment_token_file, ENROLMENT_TOKEN), "enrolment token", 16
            )
        )
        if self.comparison_mode == "zero-leakage":
            self._dgk_public = load_dgk_public(
                self.dgk_file(DGK_PUBLIC), allow_insecure_test_keys=self.allow_insecure_test_keys
            )
        return self

    @property
    def dgk_public(self) -> dgk.DgkPublicKey:
        """B's DGK public key (zero-leakage mode only), loaded and checked at start."""
        assert self._dgk_public is not None, "only in zero-leakage mode"
        return self._dgk_public

    @property
    def jwt_secret(self) -> str:
        """HS256 key of physicians' access tokens."""
        assert self._jwt_secret is not None
        return self._jwt_secret.get_secret_value()

    @property
    def enrolment_token(self) -> str:
        """The operator's secret that allows enrolling a physician."""
        assert self._enrolment_token is not None
        return self._enrolment_token.get_secret_value()


def _check_system_public(path: Path, share: KeyShare) -> None:
    """If setup's public key file is there, it must name the share's key."""
    if not path.exists():
        return
    try:
        published = json.loads(path.read_text(encoding="utf-8"))["key_id"]
    except (OSError, ValueError, KeyError, TypeError):
        raise KeyFileError(f"{path} is malformed") from None
    if published != key_id(share.public_key):
        raise KeyFileError(f"{path} names another system key than share_a.json")


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, read once."""
    return Settings()
