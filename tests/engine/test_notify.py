"""Webhook delivery against a real local HTTP server: retried when it may pass next time, not otherwise."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e.redisproc import free_port as dead_port  # nothing listens there
from palaryn_proxy.notify import deliver


class Flaky:
    """Answers each POST with the next status of `script` (then 204), recording the bodies."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.bodies: list[dict] = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                flaky.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(flaky.script.pop(0) if flaky.script else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=secret"


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    server = Flaky()
    yield server
    server.server.shutdown()


def test_5xx_and_429_are_retried_until_delivered(flaky: Flaky) -> None:
    flaky.script = [503, 429]
    assert asyncio.run(deliver(flaky.url, {"n": 1}, backoff=0.01))
    assert [b["n"] for b in flaky.bodies] == [1, 1, 1]


def test_a_client_error_is_not_retried_and_attempts_are_bounded(
    flaky: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    flaky.script = [404]
    assert not asyncio.run(deliver(flaky.url, {"n": 2}, backoff=0.01))
    assert len(flaky.bodies) == 1
    flaky.script = [500, 500, 500, 500]
    assert not asyncio.run(deliver(flaky.url, {"n": 3}, attempts=3, backoff=0.01))
    assert len(flaky.bodies) == 4  # the 404 once, then three tries
    assert "HTTP 500" in caplog.text and "secret" not in caplog.text  # the URL's token is never logged


def test_no_listener_is_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    assert not asyncio.run(deliver(f"http://127.0.0.1:{dead_port()}/x", {}, attempts=2, backoff=0.01))
    assert "after 2 attempt(s)" in caplog.text
