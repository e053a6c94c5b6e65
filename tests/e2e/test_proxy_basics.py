"""Through the real proxy socket: HTTP/2, WebSocket, blocked domains, metrics, upstream failures."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest
import websockets

from e2e.harness import curl


def test_http2_client_is_served_over_h2(proxy, agent_env):
    with httpx.Client(http2=True, timeout=20) as client:
        resp = client.get("https://upstream.test/echo")
    assert resp.status_code == 200
    assert resp.http_version == "HTTP/2"
    assert resp.headers["x-palaryn-request-id"].startswith("req_")
    record = proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "allow"


async def test_websocket_echo_through_proxy(proxy, agent_env):
    async with websockets.connect(
        "wss://upstream.test/ws", proxy=proxy.env["HTTPS_PROXY"], open_timeout=10
    ) as ws:
        for text in ("hello", "second message"):
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 5) == "echo: " + text


def test_blocked_domain_gets_403_json_and_headers(proxy, agent_env):
    out = curl(agent_env, "--suppress-connect-headers", "-D", "-", "https://blocked.test/anything")
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 403", b"HTTP/2 403"))
    headers = {k.lower(): v for k, v in (line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:])}
    assert headers["x-palaryn-decision"] == "deny"
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert "blocked.test" in error["message"] and error["code"] == "domain_blocked"
    record = proxy.record_for(headers["x-palaryn-request-id"])
    assert record["decision"] == "deny" and record["status"] == 403
    assert record["reasons"][0]["stage"] == "blocklist"


def test_blocked_request_never_reaches_upstream(proxy, agent_env, upstream):
    before = len(upstream.app.seen)
    out = curl(agent_env, "https://sub.blocked.test/never")
    assert out.returncode == 0
    assert json.loads(out.stdout)["error"]["decision"] == "deny"
    assert all(seen["path"] != "/never" for seen in upstream.app.seen[before:])


def test_openai_sdk_raises_readable_error_with_our_message(proxy, agent_env):
    client = openai.OpenAI(api_key="sk-test", base_url="https://blocked.test/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "palaryn: requests to blocked.test are blocked" in str(err.value)
    assert err.value.status_code == 403


def test_metrics_count_requests(proxy, agent_env):
    def value() -> float:
        text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
        for line in text.splitlines():
            if line.startswith('palaryn_requests_total{decision="allow",kind="http"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = value()
    with httpx.Client(timeout=20) as client:
        for _ in range(3):
            assert client.get("https://upstream.test/echo").status_code == 200
    deadline = time.monotonic() + 5
    while value() < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value() == before + 3
    health = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/healthz", trust_env=False)
    assert health.status_code == 200
    assert (
        "palaryn_request_duration_seconds_bucket"
        in httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
    )


def test_upstream_reset_gives_502_and_proxy_keeps_serving(proxy, agent_env):
    started = time.monotonic()
    out = curl(agent_env, "-D", "-", "http://reset.test/x")
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502")
    headers = {k.lower(): v for k, v in (line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:])}
    assert headers["x-palaryn-decision"] == "error" and headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["message"].startswith("palaryn: upstream failed")
    assert proxy.record_for(headers["x-palaryn-request-id"])["status"] == 502
    assert time.monotonic() - started < 10
    https = curl(agent_env, "-o", "/dev/null", "-w", "%{http_code}", "https://reset.test/x")
    assert https.stdout in (b"502", b"000")  # TLS to a resetting upstream: the tunnel itself may fail
    assert (
        curl(agent_env, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo").stdout
        == b"200"
    )


def test_silent_upstream_times_out_in_bounded_time(proxy_factory):
    proxy = proxy_factory({"upstream_timeout": 1.5})
    started = time.monotonic()
    out = curl(proxy.env, "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "http://hang.test/x")
    elapsed = time.monotonic() - started
    assert out.stdout == b"504", out
    assert 1.0 < elapsed < 10
    records = proxy.wait_records(1)
    assert records[-1]["decision"] == "error"
    assert records[-1]["reasons"][-1]["rule"] == "timeout"
    assert (
        curl(proxy.env, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo").stdout
        == b"200"
    )


def test_mitmdump_script_loads_the_full_pipeline(tmp_path, upstream, shared_certs):
    """`mitmdump -s addons/palaryn_pipeline.py` is the same pipeline for people who live in mitmproxy."""
    import subprocess
    import sys
    from pathlib import Path

    from e2e.harness import base_env, write_config
    from e2e.upstream import free_port

    port = free_port()
    config = tmp_path / "palaryn.yaml"
    write_config(config, upstream, {"audit_log": str(tmp_path / "audit.jsonl"), "metrics_listen": "off"})
    script = Path(__file__).parents[2] / "addons" / "palaryn_pipeline.py"
    mitmdump = Path(sys.executable).parent / "mitmdump"
    env = {**base_env(), "PALARYN_CONFIG": str(config)}
    proc = subprocess.Popen(
        [
            str(mitmdump),
            "-q",
            "-p",
            str(port),
            "--set",
            f"confdir={shared_certs}",
            "--set",
            f"ssl_verify_upstream_trusted_ca={upstream.ca}",
            "-s",
            str(script),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        agent = {
            "HTTPS_PROXY": f"http://127.0.0.1:{port}",
            "CURL_CA_BUNDLE": str(shared_certs / "mitmproxy-ca-cert.pem"),
        }
        deadline = time.monotonic() + 20
        out = None
        while time.monotonic() < deadline:
            out = curl(agent, "https://blocked.test/x")
            if out.returncode == 0:
                break
            time.sleep(0.2)
        assert out is not None and out.returncode == 0, out
        assert json.loads(out.stdout)["error"]["code"] == "domain_blocked"
    finally:
        proc.terminate()
        proc.wait(10)
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert records and records[-1]["decision"] == "deny"


def test_mcp_call_is_classified_with_its_tool(proxy, agent_env):
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "search_docs", "arguments": {}},
    }
    with httpx.Client(timeout=20) as client:
        resp = client.post("https://upstream.test/echo", json=call)
        deleted = client.delete("https://upstream.test/echo")
    record = proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert (record["kind"], record["tool"], record["capability"]) == ("mcp", "search_docs", "write")
    assert proxy.record_for(deleted.headers["x-palaryn-request-id"])["capability"] == "delete"


async def test_long_websocket_keeps_echoing(proxy, agent_env):
    async with websockets.connect(
        "wss://upstream.test/ws", proxy=proxy.env["HTTPS_PROXY"], open_timeout=10
    ) as ws:
        for i in range(100):
            await ws.send(f"m{i}")
            assert await asyncio.wait_for(ws.recv(), 5) == f"echo: m{i}"


def test_upstream_failure_over_http2_is_json_too(proxy, agent_env):
    with httpx.Client(http2=True, timeout=20) as client:
        resp = client.get("https://reset.test/x")
        assert resp.http_version == "HTTP/2" and resp.status_code == 502
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["x-palaryn-decision"] == "error"
        assert resp.json()["error"]["message"].startswith("palaryn: upstream failed")
        assert proxy.record_for(resp.headers["x-palaryn-request-id"])["status"] == 502
        assert client.get("https://upstream.test/echo").status_code == 200  # the connection goes on
