"""``hrmon server a`` / ``python -m server_a``: run server A under uvicorn (one worker)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _parser() -> argparse.ArgumentParser:
    from service_common.serve import server_parser

    parser = server_parser("hrmon server a", "Run server A (compute cloud).", 8001, "HRMON_A_")
    parser.add_argument("--database-url", help="SQLAlchemy URL (HRMON_A_DATABASE_URL)")
    parser.add_argument("--server-b-url", help="base URL of server B (HRMON_A_SERVER_B_URL)")
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv``, check the configuration, and serve until interrupted.

    Returns:
        0 after a clean shutdown, 2 when the configuration is refused.
    """
    args = _parser().parse_args(argv)
    from server_a.app import create_app
    from server_a.core.config import Settings
    from service_common.serve import serve

    overrides: dict[str, Any] = {}
    if args.key_dir:
        overrides["key_dir"] = args.key_dir
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.server_b_url:
        overrides["server_b_url"] = args.server_b_url
    return serve(
        "server A",
        lambda: Settings(**overrides),
        create_app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
