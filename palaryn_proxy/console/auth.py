"""Who may use the admin API: bearer tokens, browser sessions with a CSRF token, the loopback-only open mode.

A bearer token in `Authorization` authenticates API clients (no CSRF token: a browser never adds that header
cross-site). A browser logs in once (`POST /api/v1/session` with the token) and gets an HttpOnly,
SameSite=Strict cookie plus a CSRF token it must echo in `X-CSRF-Token` on every state-changing call. State
changes also pass an Origin check: an `Origin` (or `Sec-Fetch-Site: cross-site`) from another site is refused.
Without any `admin.tokens`, only loopback clients are answered, and only under a loopback Host name (DNS
rebinding cannot borrow the open mode).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from palaryn_proxy.console.config import AdminConfig, AdminToken, Role

COOKIE = "palaryn_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSIONS = 10_000  # the oldest is forgotten beyond this


class AuthError(Exception):
    """Refused: `status` is 401 (who are you?) or 403 (not allowed), `code` names the reason."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str
    via: str  # "bearer" | "session" | "loopback"
    session: str | None = None  # the session id of a cookie-authenticated browser


@dataclass(frozen=True, slots=True)
class Session:
    role: Role
    name: str
    csrf: str
    expires: float


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _loopback_host(host_header: str) -> bool:
    host = urlsplit(f"//{host_header}").hostname or ""
    return host == "localhost" or is_loopback(host)


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class Authenticator:
    """Checks every admin request; keeps browser sessions in memory (a restart logs browsers out)."""

    def __init__(self, config: AdminConfig):
        self.config = config
        self._tokens: dict[str, AdminToken] = {t.hash: t for t in config.tokens}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def principal(self, headers: Mapping[str, str], client_ip: str) -> Principal:
        """Who sent this request (headers keyed in lower case), or AuthError."""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = self._token(auth[7:].strip())
            if token is None:
                raise AuthError(401, "invalid_token", "the bearer token is not one of admin.tokens")
            return Principal(token.role, token.name, "bearer")
        sid = _cookie(headers, COOKIE)
        session = self._session(sid) if sid else None
        if session is not None and sid is not None:
            return Principal(session.role, session.name, "session", sid)
        if self.config.open:
            self._check_open(headers, client_ip)
            return Principal(Role.APPROVER, "loopback", "loopback")
        raise AuthError(
            401,
            "unauthenticated",
            "send `Authorization: Bearer <admin token>`, or log in at / with a token from admin.tokens",
        )

    def _check_open(self, headers: Mapping[str, str], client_ip: str) -> None:
        if not is_loopback(client_ip):
            raise AuthError(
                403,
                "loopback_only",
                "no admin.tokens are configured, so the admin API answers loopback clients only; "
                "add admin.tokens (palaryn-proxy hash-token) to reach it from elsewhere",
            )
        if not _loopback_host(headers.get("host", "")):
            raise AuthError(
                403, "bad_host", "without admin.tokens the Host must be localhost or a loopback IP"
            )

    def _token(self, presented: str) -> AdminToken | None:
        digest = "sha256:" + hashlib.sha256(presented.encode()).hexdigest()
        found = None
        for known, token in self._tokens.items():  # compare every one in constant time
            if hmac.compare_digest(known, digest):
                found = token
        return found

    def _session(self, sid: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires < time.time():
                del self._sessions[sid]
                return None
            return session

    def login(self, presented: str | None, headers: Mapping[str, str], client_ip: str) -> tuple[str, Session]:
        """A new browser session for a valid token (or, in the open mode, for a loopback client)."""
        if presented:
            token = self._token(presented)
            if token is None:
                raise AuthError(401, "invalid_token", "that token is not one of admin.tokens")
            role, name = token.role, token.name
        elif self.config.open:
            self._check_open(headers, client_ip)
            role, name = Role.APPROVER, "loopback"
        else:
            raise AuthError(401, "unauthenticated", 'POST {"token": "<admin token>"} to log in')
        sid = secrets.token_urlsafe(32)
        session = Session(
            role, name, secrets.token_urlsafe(32), time.time() + self.config.session_hours * 3600
        )
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[min(self._sessions, key=lambda k: self._sessions[k].expires)]
            self._sessions[sid] = session
        return sid, session

    def session_of(self, principal: Principal) -> Session | None:
        return self._session(principal.session) if principal.session else None

    def logout(self, principal: Principal) -> None:
        if principal.session:
            with self._lock:
                self._sessions.pop(principal.session, None)

    @staticmethod
    def check_origin(headers: Mapping[str, str]) -> None:
        """Refuse a request a browser sent from another site."""
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
            raise AuthError(403, "cross_origin", f"cross-site request refused (Origin {origin[:80]})")
        if headers.get("sec-fetch-site") == "cross-site":
            raise AuthError(403, "cross_origin", "cross-site request refused (Sec-Fetch-Site)")

    def check_change(self, principal: Principal, headers: Mapping[str, str], needed: Role) -> None:
        """A state-changing call: same-site only, a CSRF token for browser sessions, and the role."""
        self.check_origin(headers)
        if principal.via == "session":
            session = self.session_of(principal)
            sent = headers.get(CSRF_HEADER.lower(), "")
            if session is None or not hmac.compare_digest(session.csrf, sent):
                raise AuthError(
                    403, "csrf", f"missing or wrong {CSRF_HEADER} header for this browser session"
                )
        if not principal.role.may(needed):
            raise AuthError(403, "forbidden", f"the {principal.role} role may not do this; it needs {needed}")
