"""What both servers' settings share: the key directory, the test-key switch, the mode.

Each server has one ``Settings`` (``server_a.core.config``, ``server_b.core.config``),
subclassing :class:`ServerSettings`, read once at start and passed down; nothing reads
the environment after that.

``HRMON_COMPARISON_MODE`` = ``baseline`` (default) or ``zero-leakage``; set the same value
on both servers. In zero-leakage mode B needs ``dgk_b.json`` (its DGK secret key, 0600)
and A ``dgk_public.json``, both in the server's key directory (or ``HRMON_DGK_KEY_FILE``),
made once by ``hrmon setup --zero-leakage`` because DGK key generation takes a minute.
A missing or weak file stops the server at start.

``HRMON_NOISE_SCHEME`` = ``full`` (default) or ``djn``: how this server draws the r^N of
its encryptions (``protocol.paillier.NoiseScheme``; docs/design.md, "Noise").
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings

from protocol.keys import KeyShare
from protocol.modes import ModeName
from protocol.paillier import NoiseScheme
from service_common.key_dir import AB_SECRET, METRICS_TOKEN
from service_common.keyfiles import load_secret, load_share
from service_common.tls import TLS_CA, TlsFiles


class ServerSettings(BaseSettings):
    """Fields and files common to server A and server B: the key share and the A-B secret.

    Subclasses name their share (``SHARE_FILE``, ``SHARE_INDEX``) and load the rest.
    """

    SHARE_FILE: ClassVar[str]
    SHARE_INDEX: ClassVar[int]
    TLS_CERT: ClassVar[str]
    TLS_KEY: ClassVar[str]

    key_dir: Path | None = None
    share_file: Path | None = None
    ab_secret_file: Path | None = None
    metrics_token_file: Path | None = None
    tls: bool = Field(default=False, description="mutual TLS between A and B (hrmon setup --tls)")
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    allow_insecure_test_keys: bool = Field(
        default=False,
        validation_alias=AliasChoices("HRMON_ALLOW_INSECURE_TEST_KEYS", "allow_insecure_test_keys"),
    )
    comparison_mode: ModeName = Field(
        default="baseline",
        validation_alias=AliasChoices("HRMON_COMPARISON_MODE", "comparison_mode"),
    )
    noise_scheme: NoiseScheme = Field(
        default="full",
        validation_alias=AliasChoices("HRMON_NOISE_SCHEME", "noise_scheme"),
        description="how r^N is drawn: full (DCRA alone) or djn (short exponents)",
    )
    dgk_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("HRMON_DGK_KEY_FILE", "dgk_key_file")
    )

    _share: KeyShare | None = PrivateAttr(default=None)
    _ab_secret: SecretStr | None = PrivateAttr(default=None)
    _metrics_token: SecretStr | None = PrivateAttr(default=None)
    _tls: TlsFiles | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_common_files(self) -> ServerSettings:
        """The share, the A-B secret, the metrics token (if any) and the TLS files (if on)."""
        self._share = load_share(
            self.key_file(self.share_file, self.SHARE_FILE),
            self.SHARE_INDEX,
            allow_insecure_test_keys=self.allow_insecure_test_keys,
        )
        self._ab_secret = SecretStr(
            load_secret(self.key_file(self.ab_secret_file, AB_SECRET), "A-B secret")
        )
        metrics = self.metrics_token_file  # named: must load; in the key dir: optional
        if metrics is None and self.key_dir is not None and (self.key_dir / METRICS_TOKEN).exists():
            metrics = self.key_dir / METRICS_TOKEN
        if metrics is not None:
            self._metrics_token = SecretStr(load_secret(metrics, "metrics token"))
        if self.tls:
            files = TlsFiles(
                self.key_file(self.tls_ca_file, TLS_CA),
                self.key_file(self.tls_cert_file, self.TLS_CERT),
                self.key_file(self.tls_key_file, self.TLS_KEY),
            )
            try:
                files.client_context()  # reads all three: a bad file stops the start
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"TLS files in {files.ca.parent} are missing or unusable "
                    f"({type(exc).__name__}); run hrmon setup --tls"
                ) from None
            self._tls = files
        return self

    @property
    def tls_files(self) -> TlsFiles | None:
        """This server's CA, certificate and key for mutual TLS, or None (plain HTTP)."""
        return self._tls

    @property
    def metrics_token(self) -> str | None:
        """The bearer token ``GET /metrics`` wants; None: no token file, no metrics."""
        return None if self._metrics_token is None else self._metrics_token.get_secret_value()

    @property
    def share(self) -> KeyShare:
        """This server's share of the system key, loaded and checked at start."""
        assert self._share is not None
        return self._share

    @property
    def ab_secret(self) -> bytes:
        """The HMAC key of A's calls to B."""
        assert self._ab_secret is not None
        return self._ab_secret.get_secret_value().encode("utf-8")

    def key_file(self, explicit: Path | None, name: str) -> Path:
        """``explicit`` if set, else ``name`` in the key directory.

        Raises:
            ValueError: neither is set (pydantic reports it as a settings error).
        """
        if explicit is not None:
            return explicit
        if self.key_dir is None:
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(f"set {prefix}KEY_DIR (or the file of {name} on its own)")
        return self.key_dir / name

    def dgk_file(self, name: str) -> Path:
        """Where this server's DGK key file is (zero-leakage mode)."""
        return self.key_file(self.dgk_key_file, name)
