"""The admin listener: /metrics, /healthz, /readyz and, when the console is on, its API and dashboard —
served from daemon threads, never on the proxy's event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from palaryn_proxy.console.api import Request, Response

MAX_REQUEST_BODY = 1 << 20  # the API takes small JSON bodies only


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        admin = self.server.admin
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and admin.registry is not None:
            self._send(Response(200, generate_latest(admin.registry), CONTENT_TYPE_LATEST))
        elif path == "/healthz":
            self._send(Response(200, b"ok\n", "text/plain"))
        elif path == "/readyz":
            ok, detail = admin.ready()
            self._send(Response(200 if ok else 503, (detail + "\n").encode(), "text/plain"))
        elif path in admin.routes:
            self._send(Response(200, admin.routes[path]()))
        else:
            self._console()

    def do_POST(self) -> None:  # noqa: N802
        self._console()

    def do_DELETE(self) -> None:  # noqa: N802
        self._console()

    def _console(self) -> None:
        console = self.server.admin.console
        if console is None:
            self._send(Response(404, b"not found\n", "text/plain"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            self._send(Response(413, b'{"error":{"code":"too_large","message":"body too large"}}'))
            return
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            client_ip=self.client_address[0],
        )
        self._send(console(request))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.end_headers()
        try:
            for chunk in response.stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        finally:
            close = getattr(response.stream, "close", None)
            if close is not None:
                close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    admin: AdminServer


class AdminServer:
    """`registry` serves /metrics; `console` answers every other path when given."""

    def __init__(
        self,
        host: str,
        port: int,
        ready: Callable[[], tuple[bool, str]],
        *,
        registry: CollectorRegistry | None = None,
        json_routes: dict[str, Callable[[], bytes]] | None = None,  # e.g. /tls-failures
        console: Callable[[Request], Response] | None = None,
    ):
        self.ready, self.registry, self.console = ready, registry, console
        self.routes = dict(json_routes or {})
        self.server = _Server((host, port), _Handler)
        self.server.admin = self
        self.address = self.server.server_address
        self._thread = threading.Thread(target=self.server.serve_forever, name="palaryn-admin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
