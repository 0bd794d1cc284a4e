"""A real, throw-away PostgreSQL 15 server for tests: initdb + pg_ctl on a free loopback port.

Started once per test session by the ``postgres_url`` fixture. Where PostgreSQL cannot
start, tests that need it fail (not skip) under CI=true, so nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from client.web.basics import free_port

PG_BIN = Path(os.environ.get("HRMON_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be started here; the message says why."""


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a fresh cluster; yield a SQLAlchemy URL (postgresql+psycopg); stop and delete it."""
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(f"no initdb in {PG_BIN} (set HRMON_PG_BIN)")
    workdir = Path(tempfile.mkdtemp(prefix="hrmon-pg-"))
    data, sockets = workdir / "data", workdir / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    port = free_port()
    log = workdir / "server.log"
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "hrmon",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {port} -h 127.0.0.1 -k {sockets} -c fsync=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "hrmon",
                    "hrmon",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
        stderr = detail.decode(errors="replace")[-1000:]
        message = f"PostgreSQL did not start: {exc}; {stderr} {server_log}"
        raise PostgresUnavailable(message) from None
    try:
        yield f"postgresql+psycopg://hrmon@127.0.0.1:{port}/hrmon"
    finally:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)
