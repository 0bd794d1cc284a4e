"""``hrmon physician dashboard``: the physician's local web app.

It runs on the physician's machine, bound to loopback, holds sk_D in its own process, signs
in to server A with the physician's credentials, and shows each patient's verdicts,
history, tallies (decrypted here) and live alerts. The browser never receives a key, a
ciphertext's plaintext other than the verdict, or server A's token.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

import cli_help
from client.errors import ApiError, AuthError, HrmonError, ServerUnavailable, run_command
from client.web.basics import free_port, install_web_basics, make_templates, serve
from physician import profile as physician_profile
from physician.alerts import AlertBook
from physician.dashboard import alert_pages, export_pages, onboarding, routes
from physician.dashboard.config import DashboardConfig
from physician.dashboard.live import LiveRelay
from physician.dashboard.routes import DashboardState, NotSignedIn, current_session, redirect
from physician.dashboard.sessions import SessionStore
from physician.dashboard.views import ResultDecryptor

DEFAULT_PORT = 8765


def create_app(config: DashboardConfig) -> FastAPI:
    """The dashboard as an ASGI app (tests may serve it with uvicorn in-process)."""
    app = FastAPI(
        title="hrmon physician dashboard", docs_url=None, redoc_url=None, openapi_url=None
    )
    decryptor = ResultDecryptor(config.keys)
    alerts = AlertBook.in_home(config.home)
    state = DashboardState(
        config=config,
        sessions=SessionStore(),
        decryptor=decryptor,
        relay=LiveRelay(config.profile.server, decryptor, alerts=alerts),
        templates=make_templates(),
        alerts=alerts,
    )
    app.state.dashboard = state
    for pages in (routes, onboarding, alert_pages, export_pages):
        app.include_router(pages.router)
    install_web_basics(app)

    def error_page(request: Request, title: str, message: str, status_code: int) -> Response:
        session = current_session(request, state) or state.sessions.new()
        return routes.render(
            request,
            state,
            session,
            "error.html",
            status_code=status_code,
            title=title,
            message=message,
        )

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        session = current_session(request, state) or state.sessions.new()
        session.notice = "Please sign in."
        return redirect("/login", session)

    @app.exception_handler(AuthError)
    async def auth_refused(request: Request, exc: AuthError) -> Response:
        old = current_session(request, state)
        if old is not None:
            state.sessions.drop(old.session_id)
        notice = "Your sign-in at server A has expired. Please sign in again."
        return redirect("/login", state.sessions.new(notice=notice))

    @app.exception_handler(ServerUnavailable)
    async def unavailable(request: Request, exc: ServerUnavailable) -> Response:
        return error_page(
            request, "Server A is unreachable", routes.unreachable_message(state), 503
        )

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> Response:
        if exc.status_code == 404:
            return error_page(request, "Not found", "No such patient among yours.", 404)
        return error_page(request, "Server A refused the request", str(exc), 502)

    @app.exception_handler(HrmonError)
    async def local_problem(request: Request, exc: HrmonError) -> Response:
        return error_page(request, "Something is wrong on this computer", str(exc), 500)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, "Not found", "There is no such page.", 404)
        return error_page(request, "Request refused", str(exc.detail), exc.status_code)

    return app


@run_command
def main(argv: list[str]) -> int:
    """``hrmon physician dashboard [--home DIR] [--port N]``: serve until Ctrl-C."""
    parser = cli_help.parser(
        prog="hrmon physician dashboard",
        description="Run the physician's dashboard on this machine (loopback only). "
        "It signs in to server A and decrypts results here with your key.",
    )
    physician_profile.add_home_argument(parser)
    parser.add_argument("--server", default=None, help="server A's URL (default: from profile)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    args = parser.parse_args(argv)
    config = DashboardConfig.load(args.home or physician_profile.default_home(), args.server)
    port = args.port or free_port(args.host)
    serve(create_app(config), args.host, port, "physician dashboard")
    return 0
