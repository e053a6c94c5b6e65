"""Bodies pass through the proxy byte-identical: small and 5 MB, GET and POST, gzip, chunked, HTTP and HTTPS."""

from __future__ import annotations

import gzip
import hashlib
import json

import httpx

from e2e.harness import curl
from e2e.upstream import deterministic_bytes

FIVE_MB = 5 * 1024 * 1024


def test_curl_get_through_proxy_is_audited(proxy, agent_env):
    out = curl(agent_env, "--suppress-connect-headers", "-D", "-", "https://upstream.test/echo?x=1")
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert b" 200" in head.split(b"\r\n")[0]
    request_id = next(
        line.split(b": ", 1)[1].decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-palaryn-request-id")
    )
    echoed = json.loads(body)
    assert echoed["query"] == "x=1"
    record = proxy.record_for(request_id)
    assert record["decision"] == "allow" and record["status"] == 200
    assert record["host"] == "upstream.test" and record["method"] == "GET" and record["kind"] == "http"
    assert record["capability"] == "read" and record["tool"] == "http.request"


def test_large_get_and_post_bodies_are_byte_identical(proxy, agent_env):
    with httpx.Client(timeout=60) as client:
        got = client.get(f"https://upstream.test/bytes/{FIVE_MB}")
        assert got.status_code == 200
        assert got.content == deterministic_bytes(FIVE_MB)
        payload = deterministic_bytes(FIVE_MB)[::-1]
        posted = client.post("https://upstream.test/raw", content=payload)
        assert posted.status_code == 200
        assert hashlib.sha256(posted.content).digest() == hashlib.sha256(payload).digest()


def test_plain_http_post_passes_through(proxy, agent_env):
    body = b'{"hello": "world", "n": [1, 2, 3]}'
    out = curl(
        agent_env,
        "-X",
        "POST",
        "--data-binary",
        body.decode(),
        "-H",
        "content-type: application/json",
        "http://plain.test/echo",
    )
    assert out.returncode == 0, out.stderr
    echoed = json.loads(out.stdout)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "proxy-authorization" not in echoed["headers"]


def test_gzip_response_reaches_client_encoded_and_intact(proxy, agent_env):
    out = curl(agent_env, "-H", "accept-encoding: gzip", "https://upstream.test/gzip")
    assert out.returncode == 0, out.stderr
    assert json.loads(gzip.decompress(out.stdout))["items"][-1] == 199
    decoded = curl(agent_env, "--compressed", "https://upstream.test/gzip")
    assert json.loads(decoded.stdout)["compressed"] is True
