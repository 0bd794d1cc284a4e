"""``hrmon server b`` / ``python -m server_b``: run server B under uvicorn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrmon server b", description="Run server B (key cloud).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument(
        "--key-dir", type=Path, help="directory from `hrmon setup` (HRMON_B_KEY_DIR)"
    )
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv``, check the key files, and serve until interrupted.

    Returns:
        0 after a clean shutdown, 2 when the configuration is refused.
    """
    args = _parser().parse_args(argv)
    import uvicorn

    from server_b.app import create_app
    from server_b.core.config import Settings
    from service_common.logging_config import log_config

    try:
        settings = Settings(key_dir=args.key_dir) if args.key_dir else Settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            print(f"server B refuses to start: {error['msg']}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=log_config(args.log_level),
        workers=1,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
