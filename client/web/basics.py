"""Web plumbing shared by the two local pages: the physician dashboard and the device page.

Both are served on loopback only, from files shipped with the package (no asset is
fetched from the internet), with a strict Content-Security-Policy, a Host-header check
against DNS rebinding, and no caching of pages that show private state.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware

from client.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def make_templates() -> Jinja2Templates:
    """Jinja2 templates from the package, HTML auto-escaped."""
    return Jinja2Templates(directory=str(TEMPLATES_DIR))


def install_web_basics(app: FastAPI) -> None:
    """Static files, the Host check and the security headers on every response."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # Added last so that it runs first: a page reached through another name is refused.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)


def same_token(expected: str, submitted: str | None) -> bool:
    """Constant-time comparison of a CSRF token (None never matches)."""
    return submitted is not None and hmac.compare_digest(expected, submitted)


def check_loopback(host: str) -> None:
    """Refuse to serve a local page on anything but a loopback address.

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--host {host} is not a loopback address: this page serves private data and "
            "listens on this machine only (use 127.0.0.1)"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for tests and ``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def serve(app: FastAPI, host: str, port: int, what: str) -> None:
    """Run ``app`` with uvicorn until interrupted, after the loopback check."""
    check_loopback(host)
    shown = f"[{host}]" if ":" in host else host
    print(f"{what} on http://{shown}:{port}/ (this machine only; Ctrl-C stops it)", flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,  # open live-update streams must not hold up Ctrl-C
    )
