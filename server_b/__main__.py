"""``hrmon server b`` / ``python -m server_b``: run server B under uvicorn."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from service_common.serve import server_parser

    return server_parser("hrmon server b", "Run server B (key cloud).", 8002, "HRMON_B_")


def main(argv: list[str]) -> int:
    """Parse ``argv``, check the key files, and serve until interrupted.

    Returns:
        0 after a clean shutdown, 2 when the configuration is refused.
    """
    args = _parser().parse_args(argv)
    from server_b.app import create_app
    from server_b.core.config import Settings
    from service_common.serve import serve

    def settings() -> Settings:
        return Settings(key_dir=args.key_dir) if args.key_dir else Settings()

    return serve(
        "server B",
        settings,
        create_app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        tls=lambda s: s.tls_files,
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
