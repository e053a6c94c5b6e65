"""The identity stage: who sent a flow (headers, proxy auth on CONNECT or per request), X-Palaryn-* stripped, 407."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from flowkit import Harness, connect_flow, error_of, flow, state

TOKEN = "s3cret-token-for-alice"
AUTH = {
    "identity": {
        "require_auth": True,
        "actors": {
            "alice": {
                "workspace": "research",
                "tokens": ["sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()],
            }
        },
    }
}


def basic(user: str, password: str) -> tuple[str, str]:
    return ("Proxy-Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


async def test_palaryn_headers_name_the_actor_and_never_reach_upstream(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    f = flow(
        "https://upstream.test/echo",
        headers=[
            ("X-Palaryn-Actor", "bob"),
            ("X-Palaryn-Workspace", "lab"),
            ("X-Palaryn-Task", "t-42"),
            ("X-Palaryn-Tags", "team=search, env=dev"),
            ("Accept", "application/json"),
        ],
    )
    await h.send(f)
    ident = state(f).identity
    assert (ident.actor, ident.workspace, ident.task, ident.source) == ("bob", "lab", "t-42", "header")
    [sent] = h.upstream_saw
    assert not [name for name in sent.headers if name.lower().startswith("x-palaryn-")]
    assert sent.headers["accept"] == "application/json"  # other headers pass untouched
    record = h.record(f)
    assert (record["actor"], record["task"], record["tags"]) == (
        "bob",
        "t-42",
        {"team": "search", "env": "dev"},
    )


async def test_without_headers_the_default_actor_is_used(harness: Callable[..., Harness]) -> None:
    h = harness({"identity": {"default_actor": "robot", "default_workspace": "ops"}})
    f = flow("https://upstream.test/echo")
    await h.send(f)
    assert (state(f).identity.actor, state(f).identity.workspace) == ("robot", "ops")
    assert f.response is not None and f.response.status_code == 200


async def test_plain_request_without_credentials_gets_407(harness: Callable[..., Harness]) -> None:
    h = harness(AUTH)
    f = flow("http://plain.test/echo")
    await h.send(f)
    assert f.response is not None and f.response.status_code == 407
    assert f.response.headers["proxy-authenticate"] == 'Basic realm="palaryn"'
    assert f.response.headers["x-palaryn-decision"] == "deny"
    assert error_of(f)["code"] == "proxy_auth_required"
    assert h.upstream_saw == []
    record = h.record(f)
    assert (record["status"], record["decision"], record["reasons"][0]["rule"]) == (407, "deny", "proxy_auth")


async def test_plain_request_with_credentials_is_alice_whatever_the_headers_say(
    harness: Callable[..., Harness],
) -> None:
    h = harness(AUTH)
    f = flow("http://plain.test/echo", headers=[basic("alice", TOKEN), ("X-Palaryn-Actor", "mallory")])
    await h.send(f)
    assert f.response is not None and f.response.status_code == 200
    assert (state(f).identity.actor, state(f).identity.workspace) == ("alice", "research")
    [sent] = h.upstream_saw
    assert "proxy-authorization" not in sent.headers and "x-palaryn-actor" not in sent.headers
    wrong = flow("http://plain.test/echo", headers=[basic("alice", "nope")])
    await h.send(wrong)
    assert wrong.response is not None and wrong.response.status_code == 407
    assert "nope" not in h.audit_path.read_text()


async def test_connect_authenticates_the_tunnel_once_for_every_request_inside(
    harness: Callable[..., Harness],
) -> None:
    h = harness(AUTH)
    refused = connect_flow("upstream.test:443")
    await h.hook("http_connect", refused)
    assert refused.response is not None and refused.response.status_code == 407
    assert h.record(refused)["method"] == "CONNECT"  # a refused tunnel is audited by itself

    tunnel = connect_flow("upstream.test:443", headers=[basic("alice", TOKEN)])
    await h.hook("http_connect", tunnel)
    assert tunnel.response is None  # accepted: mitmproxy answers 200 and opens the tunnel
    inside = flow("https://upstream.test/echo")
    inside.client_conn = tunnel.client_conn
    await h.send(inside)
    assert inside.response is not None and inside.response.status_code == 200
    assert state(inside).identity.actor == "alice" and state(inside).identity.source == "proxy_auth"
