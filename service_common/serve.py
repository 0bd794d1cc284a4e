"""Running a server process: check the settings, then serve under uvicorn (one worker).

Both servers' ``__main__`` call :func:`serve`; a refused configuration prints what is
wrong (never a value) and exits 2 instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from service_common.logging_config import log_config

S = TypeVar("S", bound=BaseSettings)


def serve(
    name: str,
    make_settings: Callable[[], S],
    create_app: Callable[[S], Any],
    *,
    host: str,
    port: int,
    log_level: str,
) -> int:
    """Build ``name``'s settings and app and serve until interrupted.

    One worker: server A's event broadcast and comparison worker live in its process.

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
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(log_level),
        workers=1,
        timeout_graceful_shutdown=5,
    )
    return 0
