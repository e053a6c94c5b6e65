"""mitmproxy's HTTP server side, guarded: request deadlines (408), a head size cap, obsolete line folding
replaced by a space, non-HTTP schemes refused, malformed requests answered 400 in JSON and audited.

mitmproxy's Http1Server reads a request head with no limit of size or time, forwards folded header lines as
they came, and answers a malformed head with its own HTML page before any hook can see the request.
`install` replaces its `read_headers` (mitmproxy's steps plus the checks above) and wraps its event handler
(deadlines, kept with mitmproxy's own wakeup events so that a 408 inside an intercepted tunnel goes through
its TLS layer) and its `read_body` (a broken or stalled body is answered after the flow's error hook, where
the client stage records it). Deadlines: `client_timeouts.header_seconds` from the start of a connection or
the end of the previous response to the end of the request head, `client_timeouts.body_seconds` from there
to the end of the body. A connection idle between requests is closed without an answer or a record. Over
HTTP/2 (`Http2Server`), each request stream gets the body deadline and its own 408.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http
from mitmproxy.connection import ConnectionState
from mitmproxy.net.http import http1, url
from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import _http1, _http2
from mitmproxy.proxy.layers.http._base import ReceiveHttp
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    RequestEndOfMessage,
    RequestHeaders,
    RequestProtocolError,
    ResponseEndOfMessage,
    ResponseProtocolError,
)
from mitmproxy.utils import human

from palaryn_proxy import clienterrors, refusals
from palaryn_proxy.addons._clientguard import ClientGuard
from palaryn_proxy.clienterrors import ClientError

Server = _http1.Http1Server
H2Server = _http2.Http2Server
Commands = Generator[commands.Command, Any, None]
CLOCK = "_palaryn_clock"
EARLY = 0.005  # seconds a wakeup may fire before its time (asyncio runs timers up to a clock tick early)
_mitmproxy_handle_event = _http1.Http1Connection._handle_event
_mitmproxy_read_headers = Server.read_headers
_mitmproxy_read_body = _http1.Http1Connection.read_body
_mitmproxy_h2_handle_event = H2Server._handle_event
_STREAM_ENDS = (RequestEndOfMessage, RequestProtocolError, ResponseEndOfMessage, ResponseProtocolError)


def http1_answer(refusal: refusals.Refusal) -> bytes:
    """A refusal as a complete HTTP/1 response that closes the connection."""
    response = http.Response.make(refusal.status, refusal.body, {**refusal.headers, "connection": "close"})
    return http1.assemble_response(response)


@dataclass(slots=True)
class Clock:
    """One client connection's deadline: the phase it times (state, stream id) and when that phase ends."""

    phase: tuple[object, int] | None = None
    started: float = 0.0
    deadline: float | None = None
    wake_at: float | None = None  # the earliest wakeup asked for and not yet received


@dataclass(slots=True)
class StreamClock:
    """One HTTP/2 client connection's body deadlines, by stream."""

    deadlines: dict[int, float] = field(default_factory=dict)
    wake_at: float | None = None


class HttpGuard:
    def __init__(self, stage: ClientGuard) -> None:
        self.stage = stage
        self.read_headers_fn: object = None  # the functions installed on Http1Server, to tell its state
        self.read_body_fn: object = None

    def handle_event(self, server: Server, event: events.Event) -> Commands:
        if isinstance(event, events.Wakeup):  # only ever ours: Http1Server asks for no wakeups itself
            yield from self.on_wakeup(server)
            return
        if isinstance(event, ResponseProtocolError) and event.code is ErrorCode.DESTINATION_UNKNOWN:
            self.no_destination(server)  # answered right below without any flow hook: record it here
        yield from _mitmproxy_handle_event(server, event)
        wakeup = self.track(server)
        if wakeup is not None:
            yield wakeup

    def track(self, server: Server) -> commands.RequestWakeup | None:
        """Start a deadline when the connection enters a new head or body phase."""
        fn = getattr(server.state, "__func__", None)
        clock: Clock | None = getattr(server, CLOCK, None)
        if clock is None:
            clock = Clock()
            setattr(server, CLOCK, clock)
        phase = (fn, server.stream_id)
        if phase == clock.phase:
            return None
        clock.phase = phase
        if fn is self.read_headers_fn:
            limit: float | None = self.stage.timeouts.header_seconds
        elif fn is self.read_body_fn:
            limit = self.stage.timeouts.body_seconds
        else:
            limit = None
        if limit is None:
            clock.deadline = None
            return None
        clock.started = time.monotonic()
        clock.deadline = clock.started + limit
        if clock.wake_at is not None and clock.wake_at <= clock.deadline:
            return None  # an earlier wakeup is on its way; it asks for the next one
        clock.wake_at = clock.deadline
        return commands.RequestWakeup(limit)

    def on_wakeup(self, server: Server) -> Commands:
        clock: Clock | None = getattr(server, CLOCK, None)
        now = time.monotonic()
        if clock is None or (clock.wake_at is not None and now < clock.wake_at - EARLY):
            return  # a wakeup superseded by an earlier one
        clock.wake_at = None
        if clock.deadline is None:
            return
        if now < clock.deadline - EARLY:
            clock.wake_at = clock.deadline
            yield commands.RequestWakeup(clock.deadline - now)
            return
        clock.deadline = None
        if not server.conn.state & ConnectionState.CAN_WRITE:
            return
        fn = getattr(server.state, "__func__", None)
        if fn is self.read_headers_fn:
            if not bytes(server.buf).strip():  # idle between requests: close quietly, nothing to record
                server.state = server.done
                yield commands.CloseConnection(server.conn)
                return
            error = clienterrors.header_timeout(self.stage.timeouts.header_seconds)
            yield from self.refuse_head(server, error, _first_line(bytes(server.buf)), clock.started)
        elif fn is self.read_body_fn:  # the flow's error hook records it, then the error page answers
            server.state = server.done
            error = clienterrors.body_timeout(self.stage.timeouts.body_seconds)
            yield ReceiveHttp(
                ResponseProtocolError(server.stream_id, error.tagged(), ErrorCode.GENERIC_CLIENT_ERROR)
            )

    def read_headers(self, server: Server, event: events.ConnectionEvent) -> Commands:
        """mitmproxy's Http1Server.read_headers with a size cap, unfolded lines, schemes and JSON refusals."""
        if not isinstance(event, events.DataReceived):
            yield from _mitmproxy_read_headers(server, event)  # a close mid-head: logged, closed
            return
        large = len(server.buf) > clienterrors.HEAD_LIMIT  # else the head is surely within the limit
        head = server.buf.maybe_extract_lines()
        while head == []:  # blank lines before a request line are ignored (RFC 9112 2.2)
            head = server.buf.maybe_extract_lines()
        if head is None or (large and sum(len(line) + 2 for line in head) > clienterrors.HEAD_LIMIT):
            if large:
                first = bytes(head[0]) if head else bytes(server.buf)
                yield from self.refuse_head(server, clienterrors.headers_too_large(), first)
            return
        lines = [bytes(line) for line in head]
        error = clienterrors.refused_scheme(lines[0])
        if error is not None:
            yield from self.refuse_head(server, error, lines[0])
            return
        try:
            request = http1.read_request_head(clienterrors.unfold(lines))
            expected_body_size = http1.expected_http_body_size(request)
        except ValueError as e:
            yield from self.refuse_head(server, clienterrors.bad_request(str(e)), lines[0])
            return
        server.request = request
        yield ReceiveHttp(RequestHeaders(server.stream_id, request, expected_body_size == 0))
        server.body_reader = _http1.make_body_reader(expected_body_size)
        server.state = server.read_body
        yield from server.state(event)

    def read_body(self, server: Server, event: events.Event) -> Commands:
        """mitmproxy's, except that a malformed body is answered 400 (after the flow's error hook) rather
        than the connection dropped, and a client leaving mid-body is reported as a disconnect."""
        try:
            for command in _mitmproxy_read_body(server, event):
                if isinstance(command, commands.CloseConnection) and isinstance(event, events.DataReceived):
                    continue  # the error page closes the connection
                if isinstance(command, ReceiveHttp) and isinstance(command.event, RequestProtocolError):
                    command = self.body_failed(server, event, command.event.message)
                yield command
        except NotImplementedError:  # mitmproxy raises for request trailers
            yield self.body_failed(server, event, "request trailers are not supported")

    def body_failed(self, server: Server, event: events.Event, message: str) -> ReceiveHttp:
        if isinstance(event, events.ConnectionClosed):
            return ReceiveHttp(
                RequestProtocolError(
                    server.stream_id,
                    "Client disconnected before the request body ended.",
                    ErrorCode.CLIENT_DISCONNECTED,
                )
            )
        server.state = server.done
        error = clienterrors.bad_request(message.removeprefix("HTTP/1 protocol error: "))
        return ReceiveHttp(
            ResponseProtocolError(server.stream_id, error.tagged(), ErrorCode.GENERIC_CLIENT_ERROR)
        )

    def refuse_head(
        self, server: Server, error: ClientError, request_line: bytes, started: float | None = None
    ) -> Commands:
        """Answer and record a request that never became a flow, then close the connection."""
        method, target = clienterrors.request_line_parts(_first_line(request_line))
        request_id = self.stage.refuse_unparsed(
            server.context.client, method, _url(server, target), error, started
        )
        yield commands.Log(f"{human.format_address(server.conn.peername)}: {error.message}")
        yield commands.SendData(server.conn, http1_answer(refusals.client_error(error, request_id)))
        yield commands.CloseConnection(server.conn)
        server.state = server.done

    def no_destination(self, server: Server) -> None:
        request = server.request
        error = clienterrors.bad_request("no Host header, the destination is unknown")
        method, target = (request.method, request.path) if request is not None else ("", "")
        clock: Clock | None = getattr(server, CLOCK, None)
        started = clock.started if clock is not None else None
        request_id = self.stage.refuse_unparsed(
            server.context.client, method, _url(server, target), error, started
        )
        refusals.CLIENT_FAILURE.set((request_id, None, error))

    def h2_handle_event(self, server: H2Server, event: events.Event) -> Commands:
        """HTTP/2: a body deadline per request stream, from its headers to its end (408 on that stream)."""
        if isinstance(event, events.Wakeup):  # only ever ours: Http2Server asks for no wakeups itself
            yield from self.h2_on_wakeup(server)
            return
        clock: StreamClock | None = getattr(server, CLOCK, None)
        if clock is not None and isinstance(event, _STREAM_ENDS):  # answered before the body ended
            clock.deadlines.pop(event.stream_id, None)
        for command in _mitmproxy_h2_handle_event(server, event):
            if isinstance(command, ReceiveHttp):
                received = command.event
                if isinstance(received, RequestHeaders) and not received.end_stream:
                    if clock is None:
                        clock = StreamClock()
                        setattr(server, CLOCK, clock)
                    deadline = time.monotonic() + self.stage.timeouts.body_seconds
                    clock.deadlines[received.stream_id] = deadline
                elif clock is not None and isinstance(received, _STREAM_ENDS):
                    clock.deadlines.pop(received.stream_id, None)
            yield command
        if clock is not None and clock.deadlines:
            wakeup = _next_wakeup(clock, time.monotonic())
            if wakeup is not None:
                yield wakeup

    def h2_on_wakeup(self, server: H2Server) -> Commands:
        clock: StreamClock | None = getattr(server, CLOCK, None)
        now = time.monotonic()
        if clock is None or (clock.wake_at is not None and now < clock.wake_at - EARLY):
            return
        clock.wake_at = None
        for stream_id, deadline in list(clock.deadlines.items()):
            if deadline <= now + EARLY and server.is_open_for_us(stream_id):
                del clock.deadlines[stream_id]
                error = clienterrors.body_timeout(self.stage.timeouts.body_seconds)
                yield ReceiveHttp(
                    ResponseProtocolError(stream_id, error.tagged(), ErrorCode.GENERIC_CLIENT_ERROR)
                )
            elif deadline <= now + EARLY:
                del clock.deadlines[stream_id]
        wakeup = _next_wakeup(clock, now) if clock.deadlines else None
        if wakeup is not None:
            yield wakeup


def _next_wakeup(clock: StreamClock, now: float) -> commands.RequestWakeup | None:
    earliest = min(clock.deadlines.values())
    if clock.wake_at is not None and clock.wake_at <= earliest:
        return None
    clock.wake_at = earliest
    return commands.RequestWakeup(max(0.0, earliest - now))


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _url(server: Server, target: str) -> str:
    """The absolute URL of a request target: origin-form ones name the tunnel's (or transparent) server."""
    address = server.context.server.address
    if not target.startswith("/") or address is None:
        return target
    scheme = "https" if server.context.client.tls else "http"
    return url.unparse(scheme, str(address[0]), int(address[1]), target)


def install(stage: ClientGuard) -> None:
    """Patch mitmproxy's Http1Server and Http2Server (process-wide; a later call re-points them at `stage`)."""
    guard = HttpGuard(stage)

    def _handle_event(self: Server, event: events.Event) -> Commands:
        return guard.handle_event(self, event)

    def read_headers(self: Server, event: events.ConnectionEvent) -> Commands:
        return guard.read_headers(self, event)

    def read_body(self: Server, event: events.Event) -> Commands:
        return guard.read_body(self, event)

    def h2_handle_event(self: H2Server, event: events.Event) -> Commands:
        return guard.h2_handle_event(self, event)

    guard.read_headers_fn, guard.read_body_fn = read_headers, read_body
    H2Server._handle_event = h2_handle_event  # type: ignore[method-assign]
    # mypy types these two by Http1Connection, where mitmproxy defines them; they are patched on Http1Server only
    Server._handle_event = _handle_event  # type: ignore[method-assign,assignment]
    Server.read_headers = read_headers  # type: ignore[method-assign]
    Server.read_body = read_body  # type: ignore[method-assign,assignment]
