"""Server-side sessions of the dashboard: the browser holds only a random session id.

The server-A access token stays in this process; the cookie is HttpOnly and
SameSite=Strict, and every form carries the session's CSRF token. Signing in replaces the
session (new id, new CSRF token) so that an id planted before sign-in is worthless.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from starlette.responses import Response

COOKIE_NAME = "hrmon_dashboard"
IDLE_TIMEOUT_S = 30 * 60.0
MAX_SESSIONS = 1000


@dataclass
class Session:
    """One browser's session.

    Attributes:
        session_id: the cookie's value (random, 256 bits).
        csrf_token: required in every form post.
        last_seen: monotonic time of the last request.
        access_token: server A's bearer token once signed in.
        username: who signed in.
        notice: a one-shot message for the next page (e.g. "signed out").
    """

    session_id: str
    csrf_token: str
    last_seen: float
    access_token: str | None = None
    username: str | None = None
    notice: str | None = field(default=None)

    def __repr__(self) -> str:  # never print the id, CSRF token or access token
        return f"Session(username={self.username!r}, signed_in={self.signed_in})"

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None

    def pop_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        return notice


class SessionStore:
    """In-memory sessions with an idle timeout (the dashboard is one local process)."""

    def __init__(self, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self._idle_timeout_s = idle_timeout_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, notice: str | None = None) -> Session:
        """A fresh anonymous session."""
        session = Session(
            session_id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            last_seen=time.monotonic(),
            notice=notice,
        )
        with self._lock:
            self._expire_locked()
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, touched; None if unknown or idle too long."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            now = time.monotonic()
            if now - session.last_seen > self._idle_timeout_s:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def sign_in(self, old: Session, username: str, access_token: str) -> Session:
        """Replace ``old`` by a new signed-in session (new id and CSRF token)."""
        self.drop(old.session_id)
        session = self.new()
        session.username = username
        session.access_token = access_token
        return session

    def drop(self, session_id: str) -> None:
        """Forget a session (sign-out, expired token)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expire_locked(self) -> None:
        now = time.monotonic()
        for session_id in [
            sid for sid, s in self._sessions.items() if now - s.last_seen > self._idle_timeout_s
        ]:
            del self._sessions[session_id]
        while len(self._sessions) >= MAX_SESSIONS:  # oldest first: dicts keep insertion order
            del self._sessions[next(iter(self._sessions))]


def set_cookie(response: Response, session: Session) -> None:
    """Send the session id: HttpOnly, SameSite=Strict, this site's whole path."""
    response.set_cookie(
        COOKIE_NAME,
        session.session_id,
        httponly=True,
        samesite="strict",
        path="/",
        max_age=int(IDLE_TIMEOUT_S),
    )


def clear_cookie(response: Response) -> None:
    """Tell the browser to forget the session id."""
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
