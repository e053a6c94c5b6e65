"""Encoded secrets through the real proxy (dlp.actions.secrets: redact, over CONNECT): a token in hex, in HTML
entities, in a UTF-16LE JSON body, in base64(gzip) inside JSON, smuggled in Unicode tag characters, split by
`" + "` concatenation in code and spaced out is redacted before the upstream sees it, and the audit record
names its type; a hex-encoded token streamed over SSE is redacted before the client sees it."""

from __future__ import annotations

import base64
import gzip
import json
import ssl
import sys
from pathlib import Path

import httpx
import pytest

from e2e.harness import Proxy

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "dlp"))
from dlp_fakes import fake  # noqa: E402

GH = fake("github_pat", 21)
OPENAI = fake("openai_project_key", 22)
MARK_GH = "[REDACTED:github_pat]"
MARK_OPENAI = "[REDACTED:openai_project_key]"


def _client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


@pytest.fixture(scope="module")
def redacting(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(
        tmp_path_factory.mktemp("evasions-proxy"),
        upstream,
        shared_certs,
        {"dlp": {"actions": {"secrets": "redact"}}},
    )
    yield p
    p.stop()


def _send(proxy: Proxy, upstream, body: bytes, content_type: str) -> tuple[bytes, dict]:
    """POST body through the proxy; what the upstream received and the flow's audit record."""
    before = len(upstream.app.seen)
    with _client(proxy) as c:
        resp = c.post("https://upstream.test/echo", content=body, headers={"content-type": content_type})
    assert resp.status_code == 200
    seen = [s for s in upstream.app.seen[before:] if s["path"] == "/echo"][-1]["body"]
    return seen, proxy.record_for(resp.headers["x-palaryn-request-id"])


def _types(record: dict) -> set[str]:
    return {f["type"] for f in record["dlp"] if f["direction"] == "request" and f["action"] == "redact"}


def _chat(content: str) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}).encode()


def test_hex_encoded_token(redacting, upstream):
    hexed = GH.encode().hex()
    seen, record = _send(redacting, upstream, _chat(f"use {hexed} for the deploy"), "application/json")
    content = json.loads(seen)["messages"][0]["content"]
    assert hexed not in seen.decode() and GH not in seen.decode()
    assert content == f"use {MARK_GH} for the deploy"
    assert _types(record) == {"github_pat"}


def test_html_entities(redacting, upstream):
    encoded = "".join(f"&#{ord(c)};" for c in GH)
    page = f"<html><body><p>token: {encoded}</p></body></html>".encode()
    seen, record = _send(redacting, upstream, page, "text/html")
    assert encoded.encode() not in seen and GH.encode() not in seen
    assert seen == f"<html><body><p>token: {MARK_GH}</p></body></html>".encode()
    assert _types(record) == {"github_pat"}


def test_utf16le_json_body(redacting, upstream):
    body = json.dumps({"input": f"export GITHUB_TOKEN={GH}"}).encode("utf-16-le")
    seen, record = _send(redacting, upstream, body, "application/json; charset=utf-16le")
    assert GH.encode("utf-16-le") not in seen
    assert json.loads(seen.decode("utf-16-le")) == {"input": f"export GITHUB_TOKEN={MARK_GH}"}
    assert _types(record) == {"github_pat"}


def test_base64_of_gzip_inside_json(redacting, upstream):
    blob = base64.b64encode(gzip.compress(f"OPENAI_API_KEY={OPENAI}\n".encode())).decode()
    seen, record = _send(
        redacting, upstream, json.dumps({"file": blob, "name": ".env.gz"}).encode(), "application/json"
    )
    assert blob not in seen.decode()
    assert json.loads(seen) == {"file": MARK_OPENAI, "name": ".env.gz"}
    assert _types(record) == {"openai_project_key"}


def test_unicode_tag_characters(redacting, upstream):
    hidden = "".join(chr(0xE0000 + ord(c)) for c in GH)
    body = json.dumps({"messages": [{"role": "user", "content": "Summarise this page." + hidden}]}).encode()
    seen, record = _send(redacting, upstream, body, "application/json")
    content = json.loads(seen)["messages"][0]["content"]
    assert hidden not in content and content == "Summarise this page." + MARK_GH
    assert _types(record) == {"github_pat"}


def test_string_concatenation_in_code(redacting, upstream):
    code = (
        f'const key = "{OPENAI[:40]}" +\n  "{OPENAI[40:100]}" + "{OPENAI[100:]}";\nfetch(url, {{ key }});\n'
    )
    seen, record = _send(redacting, upstream, code.encode(), "text/plain")
    text = seen.decode()
    assert OPENAI[:40] not in text and OPENAI[40:100] not in text and OPENAI[100:] not in text
    assert text == f'const key = "{MARK_OPENAI}";\nfetch(url, {{ key }});\n'
    assert _types(record) == {"openai_project_key"}


def test_spaced_out_token(redacting, upstream):
    spaced = " ".join(GH)
    seen, record = _send(
        redacting, upstream, _chat(f"the token, letter by letter: {spaced} thanks"), "application/json"
    )
    content = json.loads(seen)["messages"][0]["content"]
    assert content == f"the token, letter by letter: {MARK_GH} thanks"
    assert _types(record) == {"github_pat"}


def test_hex_token_in_an_sse_stream(redacting, upstream):
    hexed = GH.encode().hex()
    pieces = ["Your deploy token is ", hexed[:30], hexed[30:70], hexed[70:], " and that is all."]
    events = [
        {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": text}}]}
        for text in pieces
    ]  # fmt: skip
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", body, "text/event-stream", chunks=6, delay=0.05)
    before = len(redacting.records())
    with _client(redacting) as c:
        with c.stream(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o-mini", "stream": True, "messages": []},
        ) as resp:
            received = b"".join(resp.iter_raw())
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in received.decode().split("\n\n")
        if line.startswith("data: {")
    )
    assert hexed not in text and hexed[:30] not in text and hexed[70:] not in text
    assert text == f"Your deploy token is {MARK_GH} and that is all."
    record = redacting.next_record(before)
    assert {f["type"] for f in record["dlp"] if f["direction"] == "response"} == {"github_pat"}
