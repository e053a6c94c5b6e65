"""The credential vault through the real proxy: official SDKs holding placeholders, fake upstreams that check
they receive the real values (and a real SigV4 signature), refusals of placeholders sent anywhere else,
scrubbing of real values from responses and streams, rotation, per-actor placeholders, and the CLI."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anthropic
import boto3
import httpx
import openai
import pytest
import websockets
from botocore.config import Config as BotoConfig
from google import genai

from e2e.harness import BIN, Proxy, base_env, parse_exports, start_proxy
from e2e.upstream import Upstream, respond
from palaryn_proxy.credentials.sigv4 import AwsKeys, SignatureError, verify

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
SSE, JSON = "text/event-stream", "application/json"
REAL = {
    "openai": "sk-proj-REALopenaiKEY0123456789abcdefghijklmnop",
    "anthropic": "sk-ant-api03-REALanthropicKEY0123456789abcdefgh",
    "gemini": "AIzaSyREALgeminiKEY0123456789abcdefgh",
    "tool": "tool-REAL-secret-0123456789",
}
AWS_REAL = AwsKeys("AKIAREALREALREAL1234", "realSecretKey/0123456789abcdefghijklmnopq")
BEDROCK = "bedrock-runtime.us-east-1.amazonaws.com"


def credentials_config(workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("openai", "anthropic", "tool"):
        (workdir / f"{name}.key").write_text(REAL[name] + "\n")
    (workdir / "aws.json").write_text(
        json.dumps({"access_key_id": AWS_REAL.access_key_id, "secret_access_key": AWS_REAL.secret_access_key})
    )
    (workdir / "gemini.src").write_text(REAL["gemini"])
    gemini = [
        sys.executable,
        "-c",
        f"import pathlib; print(pathlib.Path({str(workdir / 'gemini.src')!r}).read_text())",
    ]
    return {
        "credentials": [
            {
                "name": "openai",
                "hosts": ["api.openai.com"],
                "header": "authorization",
                "value_from": "file:openai.key",
                "env": ["OPENAI_API_KEY"],
            },
            {
                "name": "anthropic",
                "hosts": ["api.anthropic.com"],
                "header": ["x-api-key", "authorization"],
                "value_from": "file:anthropic.key",
                "env": ["ANTHROPIC_API_KEY"],
            },
            {
                "name": "gemini",
                "hosts": ["generativelanguage.googleapis.com"],
                "header": "x-goog-api-key",
                "query": "key",
                "value_from": {"command": gemini, "cache_seconds": 600},
                "env": ["GEMINI_API_KEY"],
            },
            {
                "name": "bedrock",
                "hosts": [BEDROCK],
                "aws_sigv4": {"service": "bedrock", "region": "us-east-1"},
                "value_from": "file:aws.json",
            },
            {
                "name": "tool",
                "hosts": ["api.groq.com"],
                "header": "x-tool-key",
                "value_from": "file:tool.key",
                "actors": ["alice"],
                "env": ["TOOL_KEY"],
            },
        ]
    }


@pytest.fixture(scope="module")
def vault_proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, shared_certs: Path
) -> Iterator[Proxy]:
    workdir = tmp_path_factory.mktemp("vault")
    p = start_proxy(workdir, upstream, shared_certs, credentials_config(workdir))
    yield p
    p.stop()


def agent(proxy: Proxy, actor: str) -> dict[str, str]:
    """What `palaryn-proxy env --actor ACTOR` exports: proxy, CA and the actor's placeholders."""
    out = proxy.cli("env", "--config", str(proxy.config_path), "--actor", actor)
    assert out.returncode == 0, out.stderr
    return parse_exports(out.stdout)


@pytest.fixture
def alice(vault_proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = agent(vault_proxy, "alice")
    for name in ("ALL_PROXY", "all_proxy", "SSL_CERT_DIR", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def client(env: dict[str, str]) -> httpx.Client:
    ca = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    return httpx.Client(proxy=env["HTTPS_PROXY"], verify=ca, trust_env=False, timeout=20)


def last_seen(upstream: Upstream, path: str) -> dict[str, Any]:
    return [s for s in upstream.app.seen if s["path"] == path][-1]


def test_openai_sdk_with_a_placeholder(vault_proxy, alice, upstream):
    assert alice["OPENAI_API_KEY"].startswith("sk-proj-palaryn-")
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), JSON
    )
    raw = openai.OpenAI(max_retries=0).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().usage.prompt_tokens == 2006
    assert (
        last_seen(upstream, "/v1/chat/completions")["headers"]["authorization"] == f"Bearer {REAL['openai']}"
    )
    record = vault_proxy.record_for(raw.headers["x-palaryn-request-id"])
    assert record["credentials"] == ["openai"] and record["decision"] == "allow"
    assert record["usage"]["input_tokens"] == 2006 and record["cost_usd"] is not None
    assert REAL["openai"] not in vault_proxy.audit_path.read_text()


def test_anthropic_sdk_stream_with_a_placeholder(vault_proxy, alice, upstream):
    upstream.app.serve_fixture(
        "/v1/messages", (FIXTURES / "anthropic_stream.sse").read_bytes(), SSE, chunks=5
    )
    before = len(vault_proxy.records())
    with anthropic.Anthropic(max_retries=0).messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_message().usage.output_tokens == 89
    headers = last_seen(upstream, "/v1/messages")["headers"]
    sent = headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")
    assert sent == REAL["anthropic"]
    record = vault_proxy.next_record(before)
    assert record["credentials"] == ["anthropic"] and record["cost_usd"] is not None


def test_gemini_header_and_query(vault_proxy, alice, upstream):
    path = "/v1/models/gemini-2.0-flash:generateContent"  # google-genai 1.x and later: v1
    queries: list[str] = []

    async def route(scope, body, send):
        queries.append(scope["query_string"].decode())
        await respond(send, 200, (FIXTURES / "gemini.resp.json").read_bytes())

    upstream.app.routes[path] = route
    sdk = genai.Client(
        api_key=alice["GEMINI_API_KEY"],
        http_options={"client_args": {"verify": ssl.create_default_context(cafile=alice["SSL_CERT_FILE"])}},
    )
    answer = sdk.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert answer.usage_metadata.prompt_token_count == 2130
    assert last_seen(upstream, path)["headers"]["x-goog-api-key"] == REAL["gemini"]
    with client(alice) as c:
        r = c.post(f"https://generativelanguage.googleapis.com{path}?key={alice['GEMINI_API_KEY']}", json={})
    assert r.status_code == 200 and parse_qs(queries[-1])["key"] == [REAL["gemini"]]


def test_boto3_bedrock_converse_is_re_signed(vault_proxy, alice, upstream):
    path = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    verdicts: list[str] = []

    async def route(scope, body, send):
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        url = f"https://{BEDROCK}{scope['raw_path'].decode()}"
        try:
            verify(scope["method"], url, headers, body, AWS_REAL)
        except SignatureError as exc:
            verdicts.append(str(exc))
            await respond(send, 403, json.dumps({"message": str(exc)}).encode())
            return
        verdicts.append("ok")
        await respond(send, 200, (FIXTURES / "bedrock.resp.json").read_bytes())

    upstream.app.routes[path] = route
    upstream.app.routes[path.replace(":", "%3A")] = route
    bedrock = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        verify=alice["SSL_CERT_FILE"],
        # explicit: boto3's default session caches the credentials an earlier test's client resolved
        aws_access_key_id=alice["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=alice["AWS_SECRET_ACCESS_KEY"],
        # botocore sends proxy credentials only with a password: any token names the actor here
        config=BotoConfig(
            proxies={"https": alice["HTTPS_PROXY"].replace("alice:@", "alice:t@")},
            retries={"max_attempts": 1},
        ),
    )
    assert alice["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(alice["AWS_SECRET_ACCESS_KEY"]) == 40
    out = bedrock.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
    )
    assert verdicts[-1] == "ok" and out["usage"]["inputTokens"] == 284
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("where", ["header", "body", "query"])
def test_placeholder_toward_another_host_is_refused(vault_proxy, alice, upstream, where):
    path = f"/echo/exfil-{where}"
    p = alice["OPENAI_API_KEY"]
    kwargs: dict[str, Any] = {
        "header": {"headers": {"X-Note": p}},
        "body": {"json": {"note": f"key={p}"}},
        "query": {"params": {"k": p}},
    }[where]
    with client(alice) as c:
        r = c.post(f"https://upstream.test{path}", **kwargs)
    assert r.status_code == 403 and r.headers["x-palaryn-decision"] == "deny"
    assert "credential openai" in r.text and p not in r.text
    assert not [s for s in upstream.app.seen if s["path"] == path]
    record = vault_proxy.record_for(r.headers["x-palaryn-request-id"])
    assert record["reasons"][0]["rule"] == "credential:openai:unbound_host"


async def test_placeholder_in_a_websocket_message_closes_it(vault_proxy, alice):
    async with websockets.connect(
        "wss://upstream.test/ws", proxy=alice["HTTPS_PROXY"], open_timeout=10
    ) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "echo: hello"
        await ws.send(f"key: {alice['OPENAI_API_KEY']}")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)


def test_placeholder_outside_its_slot_toward_its_host_is_refused(vault_proxy, alice, upstream):
    with client(alice) as c:
        r = c.post(
            "https://api.openai.com/echo/in-body",
            headers={"Authorization": f"Bearer {alice['OPENAI_API_KEY']}"},
            content=base64.b64encode(f"leak {alice['OPENAI_API_KEY']}".encode()),
        )
    assert r.status_code == 403 and "outside its slot" in r.text
    assert not [s for s in upstream.app.seen if s["path"] == "/echo/in-body"]


def test_another_actors_placeholder_is_refused(vault_proxy, alice, upstream):
    bob = agent(vault_proxy, "bob")
    assert "TOOL_KEY" not in bob and bob["OPENAI_API_KEY"] != alice["OPENAI_API_KEY"]
    with client(bob) as c:
        r = c.get(
            "https://api.openai.com/echo/bob", headers={"Authorization": f"Bearer {alice['OPENAI_API_KEY']}"}
        )
        assert r.status_code == 403 and "another actor" in r.text
        r = c.get("https://api.groq.com/echo/bob-tool", headers={"X-Tool-Key": alice["TOOL_KEY"]})
        assert r.status_code == 403 and "may not use credential tool" in r.text
        r = c.get(
            "https://api.openai.com/echo/bob-own",
            headers={"Authorization": f"Bearer {bob['OPENAI_API_KEY']}"},
        )
    assert r.status_code == 200
    assert last_seen(upstream, "/echo/bob-own")["headers"]["authorization"] == f"Bearer {REAL['openai']}"
    assert not [s for s in upstream.app.seen if s["path"] in ("/echo/bob", "/echo/bob-tool")]


def test_real_values_are_scrubbed_from_responses_errors_and_streams(vault_proxy, alice, upstream):
    key = REAL["openai"]
    upstream.app.serve_fixture("/leak/json", json.dumps({"your_key": key}).encode(), JSON, chunks=1)
    upstream.app.serve_fixture(
        "/leak/error", json.dumps({"error": f"bad key {key}"}).encode(), JSON, status=401
    )
    b64 = base64.b64encode(key.encode()).decode()
    stream = "".join(f'data: {{"i": {i}, "k": "{key if i % 2 else b64}"}}\n\n' for i in range(4)).encode()
    upstream.app.serve_fixture("/leak/sse", stream, SSE, chunks=9, delay=0.02)
    with client(alice) as c:
        # the echo route answers with the headers it received: the real key the proxy injected
        echo = c.get("https://api.groq.com/echo/x", headers={"X-Tool-Key": alice["TOOL_KEY"]})
        plain = c.get("https://upstream.test/leak/json")
        error = c.get("https://upstream.test/leak/error")
        with c.stream("GET", "https://sse.test/leak/sse") as s:
            streamed = b"".join(s.iter_raw())
    assert echo.json()["headers"]["x-tool-key"] == "[credential:tool]"
    assert last_seen(upstream, "/echo/x")["headers"]["x-tool-key"] == REAL["tool"]
    assert plain.json() == {"your_key": "[credential:openai]"}
    assert error.status_code == 401 and "[credential:openai]" in error.text and key not in error.text
    assert key.encode() not in streamed and b64.encode() not in streamed
    assert streamed.count(b"[credential:openai]") == 4 and streamed.count(b"data: ") == 4
    record = vault_proxy.record_for(plain.headers["x-palaryn-request-id"])
    assert record["decision"] == "redact" and record["reasons"][-1]["rule"] == "scrubbed"


def test_file_backed_value_rotates_mid_run(vault_proxy, alice, upstream):
    path = vault_proxy.workdir / "openai.key"
    headers = {"Authorization": f"Bearer {alice['OPENAI_API_KEY']}"}
    try:
        with client(alice) as c:
            assert c.get("https://api.openai.com/echo/rot-1", headers=headers).status_code == 200
            path.write_text("sk-proj-ROTATEDopenaiKEY9876543210zyxwvu\n")
            time.sleep(0.05)
            r = c.get("https://api.openai.com/echo/rot-2", headers=headers)
        assert last_seen(upstream, "/echo/rot-1")["headers"]["authorization"] == f"Bearer {REAL['openai']}"
        seen = last_seen(upstream, "/echo/rot-2")["headers"]["authorization"]
        assert seen == "Bearer sk-proj-ROTATEDopenaiKEY9876543210zyxwvu"
        assert r.json()["headers"]["authorization"] == "Bearer [credential:openai]"  # before DLP reads it
    finally:
        path.write_text(REAL["openai"] + "\n")


def test_sighup_reads_a_command_value_again(vault_proxy, alice, upstream):
    path = "/v1/models/gemini-2.0-flash:countTokens"
    queries: list[str] = []

    async def route(scope, body, send):
        queries.append(scope["query_string"].decode())
        await respond(send, 200, b'{"totalTokens": 1}')

    upstream.app.routes[path] = route
    url = f"https://generativelanguage.googleapis.com{path}?key={alice['GEMINI_API_KEY']}"
    source = vault_proxy.workdir / "gemini.src"
    try:
        source.write_text("AIzaSyROTATEDgeminiKEY0123456789abcdef")
        with client(alice) as c:
            assert c.post(url, json={}).status_code == 200  # cached for 600 s: still the first value
            vault_proxy.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert c.post(url, json={}).status_code == 200
                if parse_qs(queries[-1])["key"] == ["AIzaSyROTATEDgeminiKEY0123456789abcdef"]:
                    break
                time.sleep(0.1)
        assert parse_qs(queries[0])["key"] == [REAL["gemini"]]
        assert parse_qs(queries[-1])["key"] == ["AIzaSyROTATEDgeminiKEY0123456789abcdef"]
    finally:
        source.write_text(REAL["gemini"])
        vault_proxy.process.send_signal(signal.SIGHUP)


def test_metrics_count_injections_and_refusals(vault_proxy, alice):
    text = httpx.get(f"http://127.0.0.1:{vault_proxy.metrics_port}/metrics", timeout=10).text
    assert 'palaryn_credential_injections_total{credential="openai"}' in text
    assert 'palaryn_credential_refusals_total{credential="openai",reason="unbound_host"}' in text


def test_cli_list_placeholder_and_exec(vault_proxy, alice, tmp_path):
    cfg = str(vault_proxy.config_path)
    listed = json.loads(vault_proxy.cli("credentials", "list", "--config", cfg, "--json").stdout)
    assert {r["name"]: r["resolves"] for r in listed} == dict.fromkeys(
        ["openai", "anthropic", "gemini", "bedrock", "tool"], True
    )
    table = vault_proxy.cli("credentials", "list", "--config", cfg).stdout
    assert all(v not in table + json.dumps(listed) for v in [*REAL.values(), AWS_REAL.secret_access_key])
    ph = vault_proxy.cli(
        "credentials", "placeholder", "openai", "--actor", "alice", "--config", cfg
    ).stdout.strip()
    assert ph == alice["OPENAI_API_KEY"]
    show = "import os, json; print(json.dumps({k: os.environ.get(k) for k in ['OPENAI_API_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'TOOL_KEY']}))"
    done = vault_proxy.cli("exec", "--config", cfg, "--actor", "alice", "--", sys.executable, "-c", show)
    exported = json.loads(done.stdout)
    assert exported == {k: alice[k] for k in exported}
    aws = vault_proxy.cli("credentials", "placeholder", "bedrock", "--actor", "alice", "--config", cfg).stdout
    assert aws.strip() == f"{exported['AWS_ACCESS_KEY_ID']}:{exported['AWS_SECRET_ACCESS_KEY']}"


def test_unresolvable_value_is_a_clear_startup_error(vault_proxy, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "credentials:\n"
        "  - {name: gone, hosts: [api.openai.com], header: authorization, value_from: 'file:missing.key'}\n"
        f"certs_dir: {vault_proxy.certs_dir}\n"
        "metrics_listen: 'off'\n"
    )
    listed = subprocess.run(
        [str(BIN), "credentials", "list", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=base_env(),
    )
    assert "gone" in listed.stdout and "resolves=NO" in listed.stdout
    run = subprocess.run(
        [str(BIN), "run", "--config", str(bad), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=30,
    )
    assert run.returncode != 0 and "credential gone" in run.stderr and "missing.key" in run.stderr
