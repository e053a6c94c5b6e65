"""Client errors as values: what mitmproxy's messages mean, schemes, obsolete line folding, the answer."""

from __future__ import annotations

import json

import pytest

from palaryn_proxy import clienterrors, refusals
from palaryn_proxy.types import Decision, Identity


@pytest.mark.parametrize(
    ("message", "rule", "status", "decision"),
    [
        (clienterrors.body_timeout(2).tagged(), "body_timeout", 408, Decision.ERROR),
        (clienterrors.header_timeout(30).tagged(), "header_timeout", 408, Decision.ERROR),
        (clienterrors.bad_request("invalid chunk").tagged(), "bad_request", 400, Decision.ERROR),
        ("Invalid request scheme: gopher", "unsupported_scheme", 400, Decision.DENY),
        (
            "Received message with both transfer-encoding and content-length headers from client, refusing "
            "to prevent request smuggling attacks. Disable the validate_inbound_headers option to skip this.",
            "bad_request",
            400,
            Decision.ERROR,
        ),
        (
            "mitmproxy received an HTTP CONNECT request even though it is not running in regular mode",
            "bad_request",
            400,
            Decision.ERROR,
        ),
    ],
)
def test_classify_client_errors(message: str, rule: str, status: int, decision: Decision) -> None:
    error = clienterrors.classify(message)
    assert error is not None
    assert (error.rule, error.status, error.decision) == (rule, status, decision)
    assert error.reason.stage == "client"


@pytest.mark.parametrize(
    "message",
    [
        "Client disconnected.",
        "server closed connection",
        "Connection killed.",
        "[Errno 111] Connection refused",
    ],
)
def test_upstream_failures_and_disconnects_are_not_client_errors(message: str) -> None:
    assert clienterrors.classify(message) is None


def test_tagged_message_round_trips() -> None:
    error = clienterrors.body_timeout(1.5)
    assert clienterrors.classify(error.tagged()) == error
    assert "1.5s" in error.message


def test_transfer_encoding_detail_is_kept() -> None:
    error = clienterrors.classify(
        "Received message with both transfer-encoding and content-length headers from client, refusing to "
        "prevent request smuggling attacks."
    )
    assert error is not None
    assert (
        error.message == "malformed request: message with both transfer-encoding and content-length headers"
    )


@pytest.mark.parametrize(
    ("line", "scheme"),
    [
        (b"GET gopher://example.com/ HTTP/1.1", "gopher"),
        (b"GET FTP://example.com/f HTTP/1.1", "ftp"),
        (b"GET file:///etc/passwd HTTP/1.1", "file"),
        (b"GET ws://example.com/socket HTTP/1.1", "ws"),
        (b"GET http://example.com/ HTTP/1.1", None),
        (b"GET HTTPS://example.com/ HTTP/1.1", None),
        (b"GET /redirect?to=gopher://x HTTP/1.1", None),
        (b"CONNECT example.com:443 HTTP/1.1", None),
        (b"GET * HTTP/1.1", None),
        (b"garbage", None),
    ],
)
def test_refused_scheme(line: bytes, scheme: str | None) -> None:
    error = clienterrors.refused_scheme(line)
    if scheme is None:
        assert error is None
    else:
        assert error is not None and error.decision is Decision.DENY and error.status == 400
        assert error.message.startswith(f"{scheme}://")


def test_unfold_replaces_obsolete_line_folding_by_one_space() -> None:
    lines = [b"GET / HTTP/1.1", b"Host: a", b"X-Long: one  ", b" \ttwo", b"\tthree", b"Accept: */*"]
    assert clienterrors.unfold(lines) == [
        b"GET / HTTP/1.1",
        b"Host: a",
        b"X-Long: one two three",
        b"Accept: */*",
    ]


def test_unfold_leaves_unfolded_heads_and_a_leading_continuation_alone() -> None:
    plain = [b"GET / HTTP/1.1", b"Host: a"]
    assert clienterrors.unfold(plain) is plain
    leading = [b"GET / HTTP/1.1", b" Host: a"]  # before any header: the parser refuses it (400)
    assert clienterrors.unfold(leading) == leading


def test_request_line_parts_are_best_effort() -> None:
    assert clienterrors.request_line_parts(b"POST http://x/ HTTP/1.1") == ("POST", "http://x/")
    assert clienterrors.request_line_parts(b"") == ("", "")
    assert clienterrors.request_line_parts(b"\xff\xfe") == ("\ufffd\ufffd", "")


def test_refused_state_is_a_finished_refusal() -> None:
    identity = Identity("anonymous", "default")
    error = clienterrors.unsupported_scheme("gopher")
    state = clienterrors.refused_state("req_1", identity, "10.0.0.1", "GET", "gopher://example.com/x", error)
    assert (state.decision, state.status, state.blocked_by, state.host) == (
        Decision.DENY,
        400,
        "client",
        "example.com",
    )
    assert state.reasons == [error.reason]
    assert clienterrors.refused_state("r", identity, "", "GET", "http://[::1/", error).host == ""


def test_client_error_answer() -> None:
    refusal = refusals.client_error(clienterrors.header_timeout(30), "req_9")
    assert refusal.status == 408
    assert (
        refusal.headers["X-Palaryn-Decision"] == "error"
        and refusal.headers["X-Palaryn-Request-Id"] == "req_9"
    )
    assert refusal.headers["connection"] == "close"
    error = json.loads(refusal.body)["error"]
    assert error["code"] == "request_timeout" and error["request_id"] == "req_9"
    assert error["message"] == "palaryn: the request headers did not arrive within 30s"
    gemini = json.loads(refusals.client_error(clienterrors.bad_request("x"), "r", "gemini").body)
    assert gemini["error"]["status"] == "INVALID_ARGUMENT"
