"""Running a server process: check the settings, then serve under uvicorn (one worker).

Both servers' ``__main__`` call :func:`serve`; a refused configuration prints what is
wrong (never a value) and exits 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

import cli_help
from service_common.logging_config import log_config
from service_common.tls import TlsFiles

S = TypeVar("S", bound=BaseSettings)


def server_parser(
    prog: str, description: str, port: int, env_prefix: str
) -> argparse.ArgumentParser:
    """The options every server takes: bind address, port, key directory, log level."""
    parser = cli_help.parser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument(
        "--key-dir", type=Path, help=f"directory from `hrmon setup` ({env_prefix}KEY_DIR)"
    )
    parser.add_argument("--log-level", default="info")
    return parser


def serve(
    name: str,
    make_settings: Callable[[], S],
    create_app: Callable[[S], Any],
    *,
    host: str,
    port: int,
    log_level: str,
    tls: Callable[[S], TlsFiles | None] | None = None,
) -> int:
    """Build ``name``'s settings and app and serve until interrupted.

    One worker: server A's event broadcast and comparison worker live in its process.
    ``tls`` gives the server's own TLS files (server B with ``HRMON_B_TLS=1``): HTTPS, and
    a client certificate of the CA required.

    Returns:
        0 after a clean shutdown, 2 when the configuration is refused.
    """
    import uvicorn

    try:
        settings = make_settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            print(f"{name} refuses to start: {error['msg']}", file=sys.stderr)
        return 2
    files = tls(settings) if tls is not None else None
    ssl_options: dict[str, Any] = {}
    if files is not None:
        ssl_options = {
            "ssl_certfile": str(files.cert),
            "ssl_keyfile": str(files.key),
            "ssl_ca_certs": str(files.ca),
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }
    uvicorn.run(
        create_app(settings),
        **ssl_options,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(log_level),
        workers=1,
        timeout_graceful_shutdown=5,
    )
    return 0
