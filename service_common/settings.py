"""What both servers' settings share: the key directory, the test-key switch, the mode.

Each server has one ``Settings`` (``server_a.core.config``, ``server_b.core.config``),
subclassing :class:`ServerSettings`, read once at start and passed down; nothing reads
the environment after that.

``HRMON_COMPARISON_MODE`` = ``baseline`` (default) or ``zero-leakage``; set the same value
on both servers. In zero-leakage mode B needs ``dgk_b.json`` (its DGK secret key, 0600)
and A ``dgk_public.json``, both in the server's key directory (or ``HRMON_DGK_KEY_FILE``),
made once by ``hrmon setup --zero-leakage`` because DGK key generation takes a minute.
A missing or weak file stops the server at start.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from protocol.modes import ModeName


class ServerSettings(BaseSettings):
    """Fields and file lookup common to server A and server B."""

    key_dir: Path | None = None
    allow_insecure_test_keys: bool = Field(
        default=False,
        validation_alias=AliasChoices("HRMON_ALLOW_INSECURE_TEST_KEYS", "allow_insecure_test_keys"),
    )
    comparison_mode: ModeName = Field(
        default="baseline",
        validation_alias=AliasChoices("HRMON_COMPARISON_MODE", "comparison_mode"),
    )
    dgk_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("HRMON_DGK_KEY_FILE", "dgk_key_file")
    )

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
