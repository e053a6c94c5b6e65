"""Requests the client gets wrong, through a real proxy socket: malformed (400), non-HTTP schemes (400, deny)
and too slow (408) — each answered in JSON with its request id, audited as the client's, and the proxy
serving the next request as usual."""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from e2e.harness import Proxy, start_proxy
from e2e.rawupstream import RawUpstream
from e2e.upstream import Upstream

TIMEOUTS = {"header_seconds": 2, "body_seconds": 2}


@pytest.fixture(scope="module")
def raw_upstream() -> Iterator[RawUpstream]:
    with RawUpstream() as raw:
        yield raw


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream: Upstream, shared_certs, raw_upstream: RawUpstream) -> Iterator[Proxy]:
    extra = {
        "client_timeouts": TIMEOUTS,
        "resolve_overrides": {"raw.test": f"127.0.0.1:{raw_upstream.port}"},
    }
    p = start_proxy(tmp_path_factory.mktemp("client-errors"), upstream, shared_certs, extra)
    yield p
    p.stop()


def exchange(proxy: Proxy, *parts: bytes, pause: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send `parts` (with `pause` seconds between them) on a fresh connection; all the proxy said until it
    closed."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as sock:
        return _talk(sock, parts, pause)


def _talk(sock: socket.socket, parts: tuple[bytes, ...], pause: float) -> bytes:
    for i, part in enumerate(parts):
        if i and select.select([sock], [], [], pause)[0]:
            break  # the proxy answered (gave up on us) mid-request: read what it said
        try:
            sock.sendall(part)
        except OSError:
            break
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        out += chunk
    return out


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def refused(proxy: Proxy, raw: bytes, status: int, decision: str, rule: str) -> dict[str, Any]:
    """The answer is palaryn's JSON with its id and decision, and the audit record says the client erred."""
    code, headers, body = parse(raw)
    assert code == status, raw
    assert headers["content-type"] == "application/json"
    assert headers["x-palaryn-decision"] == decision
    assert headers["connection"] == "close"
    assert body["error"]["request_id"] == headers["x-palaryn-request-id"]
    record = proxy.record_for(headers["x-palaryn-request-id"])
    assert record["decision"] == decision and record["status"] == status
    assert [(r["stage"], r["rule"]) for r in record["reasons"]] == [("client", rule)]
    still_serves(proxy)
    return record


def still_serves(proxy: Proxy) -> None:
    verify = ssl.create_default_context(cafile=str(proxy.ca_file))
    with httpx.Client(proxy=proxy.url, verify=verify, trust_env=False, timeout=10) as client:
        assert client.get("http://plain.test/echo").status_code == 200
        assert client.get("https://upstream.test/echo").status_code == 200


def upstream_errors(proxy: Proxy) -> float:
    text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("palaryn_upstream_errors")
    )


def test_both_transfer_encoding_and_content_length_is_a_client_error(proxy, upstream):
    seen, errors = len(upstream.app.seen), upstream_errors(proxy)
    raw = exchange(
        proxy,
        b"POST http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    record = refused(proxy, raw, 400, "error", "bad_request")
    assert "transfer-encoding and content-length" in record["reasons"][0]["message"]
    assert record["url"] == "http://plain.test/echo" and record["method"] == "POST"
    assert all(s["path"] != "/echo" or s["method"] != "POST" for s in upstream.app.seen[seen:])
    assert upstream_errors(proxy) == errors


@pytest.mark.parametrize(
    "request_bytes, detail",
    [
        (
            b"POST http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 1x\r\n\r\n",
            "content-length",
        ),
        (b"GET http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nno colon here\r\n\r\n", "header line"),
        (b"GET http://plain.test/echo\r\n\r\n", "request line"),
        (b"GET / HTTP/1.1\r\n\r\n", "no Host header"),
        (
            b"POST http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nhello\r\n0\r\n\r\n",
            "chunk",
        ),
        (b"GET http://plain.test/echo HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "larger than"),
    ],
    ids=["content-length", "header-line", "request-line", "no-host", "chunked", "oversized-head"],
)
def test_malformed_requests_get_400_json_and_a_client_record(proxy, request_bytes, detail):
    errors = upstream_errors(proxy)
    record = refused(proxy, exchange(proxy, request_bytes), 400, "error", record_rule(detail))
    assert detail in record["reasons"][0]["message"]
    assert upstream_errors(proxy) == errors


def record_rule(detail: str) -> str:
    return "headers_too_large" if detail == "larger than" else "bad_request"


@pytest.mark.parametrize("scheme", ["gopher", "ftp", "file"])
def test_non_http_scheme_is_denied_with_400(proxy, scheme):
    target = f"{scheme}://example.com/x" if scheme != "file" else "file:///etc/passwd"
    raw = exchange(proxy, f"GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
    record = refused(proxy, raw, 400, "deny", "unsupported_scheme")
    assert f"{scheme}://" in parse(raw)[2]["error"]["message"]
    assert record["url"] == target


def test_folded_header_reaches_upstream_as_one_line(proxy, raw_upstream):
    raw = exchange(
        proxy,
        b"GET http://raw.test/fold HTTP/1.1\r\nHost: raw.test\r\nX-Folded: first\r\n \t second\r\n"
        b"\tthird\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 200"), raw
    head = raw_upstream.heads[-1]
    assert b"X-Folded: first second third\r\n" in head
    assert b"\r\n " not in head and b"\r\n\t" not in head


def test_slow_headers_get_408(proxy):
    started = time.monotonic()
    raw = exchange(proxy, b"GET http://plain.test/echo HTTP/1.1\r\n", b"Host: plain.test\r\n", pause=1.2)
    assert time.monotonic() - started < 4
    record = refused(proxy, raw, 408, "error", "header_timeout")
    assert record["method"] == "GET" and record["url"] == "http://plain.test/echo"


def test_body_sent_a_byte_a_second_gets_408(proxy):
    head = b"POST http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 10\r\n\r\n"
    started = time.monotonic()
    raw = exchange(proxy, head, *[b"x"] * 9, pause=1.0)
    assert time.monotonic() - started < 4
    refused(proxy, raw, 408, "error", "body_timeout")


def test_idle_keep_alive_connection_is_closed_quietly(proxy):
    def client_records() -> int:
        return sum(1 for r in proxy.records() if any(x["stage"] == "client" for x in r["reasons"]))

    before = client_records()
    request = b"GET http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(request)
        time.sleep(1.5)
        sock.sendall(request)  # keep-alive: the deadline starts again after each response
        started = time.monotonic()
        raw = _talk(sock, (), 0)
    assert raw.count(b"HTTP/1.1 200") == 2 and b"408" not in raw
    assert 1.5 < time.monotonic() - started < 4
    last = raw.rsplit(b"X-Palaryn-Request-Id: ", 1)[1].split(b"\r\n", 1)[0].decode()
    proxy.record_for(last)
    time.sleep(0.5)  # the audit writer's batch
    assert client_records() == before


def tunnel(proxy: Proxy, host: str = "upstream.test") -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context(cafile=str(proxy.ca_file))
    context.set_alpn_protocols(["http/1.1"])
    return context.wrap_socket(sock, server_hostname=host)


def test_slow_headers_inside_an_intercepted_tunnel_get_408(proxy):
    with tunnel(proxy) as tls:
        raw = _talk(tls, (b"GET /echo HTTP/1.1\r\n", b"Host: upstream.test\r\n"), pause=1.2)
    record = refused(proxy, raw, 408, "error", "header_timeout")
    assert record["url"] == "https://upstream.test/echo"


def test_slow_body_inside_an_intercepted_tunnel_gets_408(proxy):
    head = b"POST /echo HTTP/1.1\r\nHost: upstream.test\r\nContent-Length: 10\r\n\r\n"
    with tunnel(proxy) as tls:
        raw = _talk(tls, (head, *[b"x"] * 9), pause=1.0)
    refused(proxy, raw, 408, "error", "body_timeout")


def test_malformed_request_inside_an_intercepted_tunnel_gets_400(proxy):
    with tunnel(proxy) as tls:
        raw = _talk(
            tls,
            (
                b"POST /echo HTTP/1.1\r\nHost: upstream.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
            ),
            0,
        )
    refused(proxy, raw, 400, "error", "bad_request")


def test_http2_stream_whose_body_stalls_gets_408(proxy):
    def stalling_body() -> Iterator[bytes]:
        yield b"x"
        time.sleep(2.5)
        yield b"y"

    verify = ssl.create_default_context(cafile=str(proxy.ca_file))
    with httpx.Client(http2=True, proxy=proxy.url, verify=verify, trust_env=False, timeout=10) as client:
        resp = client.post("https://upstream.test/echo", content=stalling_body())
        assert resp.http_version == "HTTP/2"
        assert resp.status_code == 408
        assert resp.headers["x-palaryn-decision"] == "error"
        assert resp.json()["error"]["request_id"] == resp.headers["x-palaryn-request-id"]
        record = proxy.record_for(resp.headers["x-palaryn-request-id"])
        assert [(r["stage"], r["rule"]) for r in record["reasons"]] == [("client", "body_timeout")]
        assert client.get("https://upstream.test/echo").status_code == 200  # same connection, next stream
