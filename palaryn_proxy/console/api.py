"""The admin API's routes: plain requests in, JSON (or a server-sent event stream) out."""

from __future__ import annotations

import json
import queue
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.console.auth import COOKIE, Authenticator, AuthError, Principal
from palaryn_proxy.console.backend import Backend, Unavailable
from palaryn_proxy.console.config import Role
from palaryn_proxy.console.params import BadParam, parse_bucket, parse_choice, parse_limit, parse_time
from palaryn_proxy.events import FlowQuery
from palaryn_proxy.toolguard.kills import KillBook, parse_duration, scope_of

SPEND_BY = ("actor", "workspace", "task", "model", "provider")
KINDS = ("llm", "mcp", "http", "passthrough")
PING_SECONDS = 15.0
MAX_BODY = 64 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    client_ip: str


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None  # server-sent events, written as they come


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, default=str, separators=(",", ":")).encode()
    return Response(status, body, headers=headers or [])


def error_response(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


Handler = Callable[[Request, Principal, re.Match[str]], Response]


class AdminApi:
    """Routes `/api/v1/...`; `handle` never raises."""

    def __init__(self, auth: Authenticator, backend: Backend, clock: Callable[[], float] = time.time):
        self.auth, self.backend, self.clock = auth, backend, clock
        self.routes: list[tuple[str, re.Pattern[str], Role | None, Handler]] = [
            ("GET", re.compile(r"/api/v1/summary"), None, self._summary),
            ("GET", re.compile(r"/api/v1/spend"), None, self._spend),
            ("GET", re.compile(r"/api/v1/flows"), None, self._flows),
            ("GET", re.compile(r"/api/v1/flows/(?P<id>[^/]{1,200})"), None, self._flow),
            ("GET", re.compile(r"/api/v1/budgets"), None, self._budgets),
            ("GET", re.compile(r"/api/v1/approvals"), None, self._approvals),
            (
                "POST",
                re.compile(r"/api/v1/approvals/(?P<id>[^/]{1,200})/(?P<verb>approve|deny)"),
                Role.APPROVER,
                self._decide,
            ),  # fmt: skip
            ("POST", re.compile(r"/api/v1/kill"), Role.APPROVER, self._kill),
            ("POST", re.compile(r"/api/v1/unkill"), Role.APPROVER, self._unkill),
            ("GET", re.compile(r"/api/v1/kills"), None, self._kills),
            ("GET", re.compile(r"/api/v1/security"), None, self._security),
            ("GET", re.compile(r"/api/v1/policy"), None, self._policy),
            ("GET", re.compile(r"/api/v1/events/stream"), None, self._stream),
            ("GET", re.compile(r"/api/v1/session"), None, self._session),
            ("DELETE", re.compile(r"/api/v1/session"), Role.VIEWER, self._logout),
        ]

    def handle(self, req: Request) -> Response:
        try:
            if req.path == "/api/v1/session" and req.method == "POST":
                return self._login(req)
            return self._route(req)
        except AuthError as exc:
            return error_response(exc.status, exc.code, str(exc))
        except ApiError as exc:
            return error_response(exc.status, exc.code, str(exc))
        except BadParam as exc:
            return error_response(400, "bad_parameter", str(exc))
        except Unavailable as exc:
            return error_response(503, "unavailable", str(exc))

    def _route(self, req: Request) -> Response:
        allowed = []
        for method, pattern, needed, handler in self.routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            principal = self.auth.principal(req.headers, req.client_ip)
            if needed is not None and req.method != "GET":
                self.auth.check_change(principal, req.headers, needed)
            return handler(req, principal, match)
        if allowed:
            return error_response(405, "method_not_allowed", f"{req.path} answers {', '.join(allowed)}")
        return error_response(404, "not_found", f"no endpoint {req.path[:100]}; see the README's admin API")

    # ---- session -------------------------------------------------------------------------------------

    def _login(self, req: Request) -> Response:
        self.auth.check_origin(req.headers)
        token = _json_body(req).get("token")
        if token is not None and not isinstance(token, str):
            raise ApiError(400, "bad_body", 'send {"token": "<admin token>"}')
        sid, session = self.auth.login(token, req.headers, req.client_ip)
        hours = int(self.auth.config.session_hours * 3600)
        cookie = f"{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={hours}"
        body = {"role": str(session.role), "csrf_token": session.csrf, "open": self.auth.config.open}
        return json_response(body, headers=[("Set-Cookie", cookie)])

    def _session(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        session = self.auth.session_of(who)
        csrf = session.csrf if session is not None else ""
        return json_response({"role": str(who.role), "csrf_token": csrf, "open": who.via == "loopback"})

    def _logout(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        self.auth.logout(who)
        return json_response({"ok": True}, headers=[("Set-Cookie", f"{COOKIE}=; Max-Age=0; Path=/")])

    # ---- reads ---------------------------------------------------------------------------------------

    def _range(self, req: Request, default_since: str) -> tuple[float, float | None]:
        now = self.clock()
        since = parse_time("since", req.query.get("since", default_since), now)
        until = parse_time("until", req.query.get("until"), now)
        assert since is not None
        if until is not None and until <= since:
            raise BadParam("until must be after since")
        return since, until

    def _summary(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        since, until = self._range(req, "24h")
        data = dict(self.backend.store.summary(since, until))
        data["pending_approvals"] = self.backend.pending_approvals()
        return json_response(data)

    def _spend(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        by = parse_choice("by", req.query.get("by"), SPEND_BY, "actor")
        since, until = self._range(req, "24h")
        bucket = parse_bucket(req.query.get("bucket"), since, until or self.clock())
        return json_response(self.backend.store.spend(by, since, until, bucket))

    def _flows(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        q = req.query
        now = self.clock()
        kind = q.get("kind") or None
        if kind is not None:
            parse_choice("kind", kind, KINDS)
        query = FlowQuery(
            actor=q.get("actor") or None,
            decision=q.get("decision") or None,
            host=q.get("host") or None,
            kind=kind,
            since=parse_time("since", q.get("since"), now),
            until=parse_time("until", q.get("until"), now),
            limit=parse_limit(q.get("limit")),
            cursor=q.get("cursor") or None,
        )
        try:
            flows, cursor = self.backend.store.flows(query)
        except ValueError as exc:
            raise BadParam(f"cursor: {exc}; start again without a cursor") from None
        return json_response({"flows": flows, "next_cursor": cursor})

    def _flow(self, req: Request, who: Principal, match: re.Match[str]) -> Response:
        record = self.backend.store.flow(match["id"])
        if record is None:
            raise ApiError(404, "not_found", f"no flow {match['id'][:64]!r} in the event store")
        return json_response(record)

    def _budgets(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        return json_response(self.backend.budgets())

    def _approvals(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        status = parse_choice("status", req.query.get("status"), ("pending", "all"), "pending")
        return json_response({"approvals": self.backend.approvals(None if status == "all" else status)})

    def _decide(self, req: Request, who: Principal, match: re.Match[str]) -> Response:
        reason = _json_body(req).get("reason") if req.body else None
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, "bad_body", 'the optional body is {"reason": "<text>"}')
        try:
            decided = self.backend.decide(match["id"], match["verb"] == "approve", who.name, reason)
        except KeyError as exc:
            raise ApiError(404, "not_found", str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise ApiError(409, "already_decided", str(exc)) from None
        return json_response(decided)

    # ---- kill switch -------------------------------------------------------------------------------------

    def _kill_book(self) -> KillBook:
        storage = self.backend.runtime.storage
        if storage is None:
            raise Unavailable("the kill switch needs the shared storage (storage.url)")
        return KillBook(storage)

    def _kill_scope(self, body: dict[str, Any]) -> tuple[str, str]:
        actor, workspace, everything = body.get("actor"), body.get("workspace"), body.get("all", False)
        if not all(isinstance(v, str | None) for v in (actor, workspace)) or not isinstance(everything, bool):
            raise ApiError(
                400, "bad_body", 'send {"actor": "<name>"}, {"workspace": "<name>"} or {"all": true}'
            )
        try:
            return scope_of(actor, workspace, everything)
        except ValueError as exc:
            raise ApiError(400, "bad_body", str(exc)) from None

    def _kill(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        body = _json_body(req)
        scope, target = self._kill_scope(body)
        reason = body.get("reason") or ""
        if not isinstance(reason, str):
            raise ApiError(400, "bad_body", "reason: expected a string")
        try:
            seconds = parse_duration(body.get("for"))
        except ValueError as exc:
            raise ApiError(400, "bad_body", f"for: {exc}") from None
        made = self.backend.run(self._kill_book().kill(scope, target, reason, who.name, seconds))
        return json_response(made.describe())

    def _unkill(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        scope, target = self._kill_scope(_json_body(req))
        if not self.backend.run(self._kill_book().unkill(scope, target)):
            raise ApiError(404, "not_found", f"no kill of {scope} {target!r} in force")
        return json_response({"ok": True, "scope": scope, "target": target})

    def _kills(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        return json_response({"kills": [k.describe() for k in self.backend.run(self._kill_book().all())]})

    def _security(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        since, until = self._range(req, "7d")
        bucket = parse_bucket(req.query.get("bucket"), since, until or self.clock())
        return json_response(self.backend.store.security(since, until, bucket or 3600))

    def _policy(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        since, until = self._range(req, "7d")
        return json_response(
            {"packs": self.backend.packs(), "hits": self.backend.store.rule_hits(since, until)}
        )

    def _stream(self, req: Request, who: Principal, _: re.Match[str]) -> Response:
        return Response(200, content_type="text/event-stream", stream=self._events(),
                        headers=[("Cache-Control", "no-store")])  # fmt: skip

    def _events(self) -> Iterator[bytes]:
        live = self.backend.live
        with live.subscribe() as q:
            if q is None:
                yield b"event: error\ndata: too many live streams; close another console tab\n\n"
                return
            yield b": connected\n\n"
            while not live.closed:
                try:
                    record = q.get(timeout=PING_SECONDS)
                except queue.Empty:
                    yield b": ping\n\n"
                    continue
                if record is None:
                    return
                data = json.dumps(record, default=str, separators=(",", ":"))
                yield b"event: flow\ndata: " + data.encode() + b"\n\n"


def _json_body(req: Request) -> dict[str, Any]:
    if len(req.body) > MAX_BODY:
        raise ApiError(413, "too_large", f"request bodies are at most {MAX_BODY} bytes")
    if not req.body.strip():
        return {}
    try:
        data = json.loads(req.body)
    except ValueError:
        raise ApiError(400, "bad_body", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_body", "the body must be a JSON object")
    return data
