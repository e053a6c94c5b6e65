"""Identity through the proxy socket: proxy auth (407), X-Palaryn-* headers stripped, client map, HTTP/2."""

from __future__ import annotations

import json

import httpx

from e2e.harness import curl
from palaryn_proxy.identity import hash_token

TOKEN = "s3cret-token-for-alice"


def with_creds(env: dict[str, str], user: str, token: str | None) -> dict[str, str]:
    creds = f"{user}:{token}@" if token is not None else f"{user}@"
    out = dict(env)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        out[name] = env[name].replace("http://", "http://" + creds)
    return out


def auth_config() -> dict:
    return {
        "identity": {
            "require_auth": True,
            "actors": {"alice": {"workspace": "research", "tokens": [hash_token(TOKEN)]}},
        }
    }


def test_proxy_auth_identity_lands_in_audit_and_headers_never_reach_upstream(proxy_factory, upstream):
    proxy = proxy_factory(auth_config())
    env = with_creds(proxy.env, "alice", TOKEN)
    out = curl(
        env,
        "--suppress-connect-headers",
        "-D",
        "-",
        "-H",
        "X-Palaryn-Task: t-42",
        "-H",
        "X-Palaryn-Tags: team=search, env=dev",
        "-H",
        "X-Palaryn-Actor: mallory",
        "https://upstream.test/echo",
    )
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    echoed = json.loads(body)
    assert not any(h.startswith("x-palaryn") for h in echoed["headers"])
    assert "proxy-authorization" not in echoed["headers"]
    rid = next(
        ln.split(b": ")[1].decode()
        for ln in head.split(b"\r\n")
        if ln.lower().startswith(b"x-palaryn-request-id")
    )
    record = proxy.record_for(rid)
    assert record["actor"] == "alice"  # authenticated actor wins over the X-Palaryn-Actor header
    assert record["workspace"] == "research"
    assert record["task"] == "t-42"
    assert record["tags"] == {"team": "search", "env": "dev"}


def test_missing_or_wrong_token_gets_407(proxy_factory):
    proxy = proxy_factory(auth_config())
    # For HTTPS the CONNECT itself is refused: curl reports the proxy's answer as %{http_connect}.
    no_creds = curl(proxy.env, "-o", "/dev/null", "-w", "%{http_connect}", "https://upstream.test/echo")
    assert no_creds.stdout == b"407"
    wrong = curl(
        with_creds(proxy.env, "alice", "nope"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        "https://upstream.test/echo",
    )
    assert wrong.stdout == b"407"
    plain = curl(proxy.env, "-o", "/dev/null", "-w", "%{http_code}", "http://plain.test/echo")
    assert plain.stdout == b"407"
    ok = curl(
        with_creds(proxy.env, "alice", TOKEN),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://plain.test/echo",
    )
    assert ok.stdout == b"200"
    records = proxy.wait_records(4)
    denied = [r for r in records if r["status"] == 407]
    assert len(denied) == 3 and all(r["decision"] == "deny" for r in denied)
    assert all(r["reasons"][0]["rule"] == "proxy_auth" for r in denied)
    assert not any(TOKEN in json.dumps(r) or "nope" in json.dumps(r) for r in records)


def test_http2_client_with_proxy_auth(proxy_factory, monkeypatch):
    proxy = proxy_factory(auth_config())
    env = with_creds(proxy.env, "alice", TOKEN)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with httpx.Client(http2=True, timeout=20) as client:
        resp = client.get(
            "https://upstream.test/echo", headers={"X-Palaryn-Workspace": "ignored-for-bound-actor"}
        )
    assert resp.http_version == "HTTP/2" and resp.status_code == 200
    assert "x-palaryn-workspace" not in resp.json()["headers"]
    record = proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert (record["actor"], record["workspace"]) == ("alice", "research")


def test_actor_from_headers_and_client_map_without_auth(proxy_factory):
    proxy = proxy_factory(
        {"identity": {"client_map": {"127.0.0.0/8": {"actor": "local-agent", "workspace": "lab"}}}}
    )
    mapped = curl(proxy.env, "-o", "/dev/null", "https://upstream.test/echo")
    assert mapped.returncode == 0
    by_header = curl(proxy.env, "-o", "/dev/null", "-H", "X-Palaryn-Actor: bob", "https://upstream.test/echo")
    assert by_header.returncode == 0
    by_user = curl(with_creds(proxy.env, "carol", None), "-o", "/dev/null", "https://upstream.test/echo")
    assert by_user.returncode == 0
    records = proxy.wait_records(3)
    assert [(r["actor"], r["workspace"]) for r in records[-3:]] == [
        ("local-agent", "lab"),
        ("bob", "lab"),
        ("carol", "lab"),
    ]
