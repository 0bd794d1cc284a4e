"""Start server A and server B as real processes on loopback, for ``hrmon demo`` and tests.

:func:`write_key_dir` writes a complete key directory (the files of ``hrmon setup``);
:func:`launch_servers` starts both servers on free ports, waits for ``/readyz``, and stops
them on exit. ``LocalServers.stop``/``start`` kill and restart one server for fault tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from client.web.basics import free_port
from protocol.keys import KeyShare, generate_system_key
from protocol.paillier import PublicKey
from protocol.params import DEFAULT_KEY_BITS
from service_common.key_dir import write_system_files
from service_common.tls import TLS_A_CERT, TLS_A_KEY, TLS_CA, TlsFiles


def write_key_dir(
    directory: Path,
    bits: int = DEFAULT_KEY_BITS,
    *,
    system: tuple[PublicKey, KeyShare, KeyShare] | None = None,
) -> Path:
    """Write every file of docs/api.md's "Files made by hrmon setup" into ``directory``.

    Args:
        directory: created 0700 if missing; existing files are replaced.
        bits: |N| of a freshly made system key (ignored when ``system`` is given).
        system: an existing (public key, share A, share B), e.g. a test's cached key.

    Returns:
        ``directory``.
    """
    write_system_files(directory, system or generate_system_key(bits))
    return directory


# --- real server processes ------------------------------------------------------------

READY_TIMEOUT_S = 60.0


class LaunchError(RuntimeError):
    """A server process exited or did not become ready; the message ends with its log tail."""


@dataclass
class ServerProcess:
    """One server (``server_a`` or ``server_b``) run as ``python -m`` on a fixed port.

    The port stays the same across :meth:`kill`/:meth:`start`, so the other server and the
    clients keep their URLs; output is appended to ``log_path``.
    """

    module: str
    port: int
    args: list[str]
    env: dict[str, str]
    log_path: Path
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start the process and wait until ``/readyz`` answers 200.

        Raises:
            LaunchError: it exited or was not ready in time (it is killed then).
        """
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", self.module, "--port", str(self.port), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # a terminal's Ctrl-C is handled by launch_servers
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LaunchError(
                    f"{self.module} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                verify: ssl.SSLContext | bool = self.tls if self.tls is not None else True
                if httpx.get(f"{self.url}/readyz", timeout=2, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise LaunchError(f"{self.module} not ready in {ready_timeout_s:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs (a crash, as far as the service can tell)."""
        self._end(signal.SIGKILL)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait for a graceful shutdown (SIGKILL after ``timeout_s``)."""
        self._end(signal.SIGTERM, timeout_s)

    def _end(self, sig: signal.Signals, timeout_s: float = 10.0) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's log (for error messages)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@dataclass
class LocalServers:
    """Server A and server B as processes; kill/start one to break things on purpose."""

    a: ServerProcess
    b: ServerProcess

    @property
    def a_url(self) -> str:
        return self.a.url

    @property
    def b_url(self) -> str:
        return self.b.url

    def close(self) -> None:
        """Stop both (A first, so it does not retry a vanished B)."""
        self.a.stop()
        self.b.stop()


def server_env(
    extra: dict[str, str] | None = None, *, insecure_test_keys: bool = False
) -> dict[str, str]:
    """The environment for a server process: this one's without any ``HRMON_`` setting or
    ``DATABASE_URL`` (a server runs on what it is given, not on what the caller's shell
    happens to hold), test keys allowed if asked, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRMON_")}
    env.pop("DATABASE_URL", None)
    if insecure_test_keys:
        env["HRMON_ALLOW_INSECURE_TEST_KEYS"] = "1"
    env.update(extra or {})
    return env


@contextmanager
def launch_servers(
    key_dir: Path,
    *,
    database_url: str,
    log_dir: Path | None = None,
    insecure_test_keys: bool = False,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    tls: bool = False,
) -> Iterator[LocalServers]:
    """Start server B, then server A wired to it, on free loopback ports; stop both on exit.

    Args:
        key_dir: a directory from ``hrmon setup`` / :func:`write_key_dir` (both read it).
        database_url: server A's database (``sqlite:///...`` or ``postgresql+psycopg://...``).
        log_dir: where ``server_a.log`` and ``server_b.log`` go (a temporary one if None).
        insecure_test_keys: allow keys under 2048 bits (``HRMON_ALLOW_INSECURE_TEST_KEYS``).
        env: extra environment for both processes (e.g. ``HRMON_A_RETRY_CAP_S``).
        tls: mutual TLS between A and B (the key directory needs ``hrmon setup --tls``);
            B's readiness is then checked with A's client certificate.
        ready_timeout_s: how long each may take to answer ``/readyz``.

    Raises:
        LaunchError: a server exited at start or never became ready.
    """
    with contextlib.ExitStack() as cleanup:
        if log_dir is None:
            log_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="hrmon-")))
        process_env = server_env(env, insecure_test_keys=insecure_test_keys)
        a_side = None
        if tls:
            process_env.update(HRMON_A_TLS="1", HRMON_B_TLS="1")
            a_side = TlsFiles(key_dir / TLS_CA, key_dir / TLS_A_CERT, key_dir / TLS_A_KEY)
        b = ServerProcess(
            "server_b", free_port(), ["--key-dir", str(key_dir)], process_env,
            log_dir / "server_b.log", a_side.client_context() if a_side else None,
        )  # fmt: skip
        a = ServerProcess(
            "server_a",
            free_port(),
            [
                "--key-dir", str(key_dir),
                "--database-url", database_url,
                "--server-b-url", b.url,
            ],
            process_env,
            log_dir / "server_a.log",
        )  # fmt: skip
        servers = LocalServers(a, b)
        cleanup.callback(servers.close)
        b.start(ready_timeout_s)
        a.start(ready_timeout_s)
        yield servers
