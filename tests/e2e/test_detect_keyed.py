"""Secrets without a vendor prefix through the real proxy (dlp.actions.secrets: redact): an AWS secret key next to
its id, an Azure AccountKey, a SAS URL, Basic credentials in a curl command, a `user:pass@` URL in a response and an
`api_key` assignment streamed over SSE are redacted before they reach the upstream / the client; a provider key in
its own Authorization header, and an opaque bearer token in a real Authorization header, pass unchanged."""

from __future__ import annotations

import base64
import json
import random
import ssl
import string

import httpx
import pytest

from e2e.harness import Proxy

_R = random.Random("test_detect_keyed")
_ALNUM = string.ascii_letters + string.digits


def _s(chars: str, n: int) -> str:
    return "".join(_R.choice(chars) for _ in range(n))


# Made up at run time in each format (never issued by anyone); no live-format literal is kept in git.
AWS_ID = "AKIA" + _s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
AWS_SECRET = _s(_ALNUM + "+/", 40)
AZURE_KEY = _s(_ALNUM + "+/", 86) + "=="
SAS_SIG = _s(_ALNUM, 43) + "%3D"
PASSWORD = _s(_ALNUM, 8) + "!" + _s(_ALNUM, 6)
BASIC = base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
API_KEY = _s(_ALNUM, 32)
OPAQUE = _s(_ALNUM + "-_", 40)
OPENAI_KEY = "sk-proj-" + _s(_ALNUM + "-_", 74) + "T3BlbkFJ" + _s(_ALNUM + "-_", 74)
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
}


@pytest.fixture(scope="module")
def redacting(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(
        tmp_path_factory.mktemp("keyed-proxy"),
        upstream,
        shared_certs,
        {"dlp": {"actions": {"secrets": "redact"}}},
    )
    yield p
    p.stop()


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


def sent(upstream, path: str, before: int) -> dict:
    return [s for s in upstream.app.seen[before:] if s["path"] == path][-1]


def types(proxy: Proxy, resp: httpx.Response) -> set[tuple[str, str]]:
    record = proxy.record_for(resp.headers["x-palaryn-request-id"])
    return {(f["type"], f["direction"]) for f in record["dlp"] if f["action"] == "redact"}


def test_aws_secret_next_to_its_id_in_a_json_body_over_connect(redacting, upstream):
    before = len(upstream.app.seen)
    payload = {"job": "backup", "env": {"AccessKeyId": AWS_ID, "Secret": AWS_SECRET, "Region": "eu-west-1"}}
    with client(redacting) as c:
        resp = c.post("https://upstream.test/echo", json=payload)
    assert resp.status_code == 200
    body = sent(upstream, "/echo", before)["body"]
    forwarded = json.loads(body)  # still valid JSON
    assert AWS_SECRET.encode() not in body and AWS_ID.encode() not in body
    assert forwarded["env"]["Region"] == "eu-west-1" and forwarded["job"] == "backup"
    assert forwarded["env"]["Secret"] == "[REDACTED:aws_secret_access_key]"
    assert ("aws_secret_access_key", "request") in types(redacting, resp)
    record = redacting.record_for(resp.headers["x-palaryn-request-id"])
    assert AWS_SECRET not in json.dumps(record)


def test_azure_connection_string_and_sas_url_in_request_bodies(redacting, upstream):
    conn = (
        "DefaultEndpointsProtocol=https;AccountName=backups01;"
        f"AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net"
    )
    sas_url = (
        "https://exports.blob.core.windows.net/reports/q2.csv?sp=r&st=2024-06-01T08:00:00Z"
        f"&se=2024-06-02T08:00:00Z&spr=https&sv=2022-11-02&sr=b&sig={SAS_SIG}"
    )
    with client(redacting) as c:
        before = len(upstream.app.seen)
        first = c.post("https://upstream.test/echo", content=f"AZURE_STORAGE_CONNECTION_STRING={conn}\n",
                       headers={"content-type": "text/plain"})  # fmt: skip
        body = sent(upstream, "/echo", before)["body"].decode()
        before = len(upstream.app.seen)
        second = c.post(
            "https://upstream.test/echo", json={"tool": "http_get", "arguments": {"url": sas_url}}
        )
        sas_body = sent(upstream, "/echo", before)["body"]
    assert first.status_code == second.status_code == 200
    assert AZURE_KEY not in body and "AccountName=backups01;AccountKey=[REDACTED:azure_storage_key]" in body
    assert ("azure_storage_key", "request") in types(redacting, first)
    assert SAS_SIG.encode() not in sas_body
    assert json.loads(sas_body)["arguments"]["url"].startswith(
        "https://exports.blob.core.windows.net/reports/"
    )
    assert ("azure_sas_token", "request") in types(redacting, second)


def test_basic_credentials_in_a_curl_command_in_a_prompt(redacting, upstream):
    upstream.app.serve_fixture("/v1/chat/completions", json.dumps(CHAT).encode(), "application/json")
    prompt = (
        "This fails with 403, why?\n"
        f"curl -s -H 'Authorization: Basic {BASIC}' https://jenkins.acme.io/job/deploy/api/json"
    )
    before = len(upstream.app.seen)
    with client(redacting) as c:
        resp = c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]},
        )
    assert resp.status_code == 200
    body = sent(upstream, "/v1/chat/completions", before)["body"]
    content = json.loads(body)["messages"][0]["content"]
    assert BASIC not in content and PASSWORD not in content
    assert "Authorization: Basic [REDACTED:basic_auth]" in content and content.startswith("This fails")
    assert ("basic_auth", "request") in types(redacting, resp)


def test_url_with_a_password_in_a_response_body(redacting, upstream):
    dsn = f"postgresql://billing_svc:{PASSWORD}@db.internal:5432/billing"
    upstream.app.serve_fixture(
        "/config/billing",
        json.dumps({"service": "billing", "dsn": dsn, "pool": 10}).encode(),
        "application/json",
    )
    with client(redacting) as c:
        resp = c.get("https://upstream.test/config/billing")
    assert resp.status_code == 200 and PASSWORD not in resp.text
    got = resp.json()
    assert got["pool"] == 10 and got["dsn"].startswith("postgresql://billing_svc:")
    assert got["dsn"].endswith("@db.internal:5432/billing")
    assert ("url_password", "response") in types(redacting, resp)


def test_api_key_assignment_streamed_over_sse(redacting, upstream):
    pieces = [
        "Put this in settings.py:\n\n",
        'API_KEY = "',
        API_KEY[:11],
        API_KEY[11:23],
        API_KEY[23:],
        '"\n',
        "done",
    ]
    events = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": text}}],
        }  # fmt: skip
        for text in pieces
    ]
    stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", stream, "text/event-stream", chunks=6, delay=0.05)
    before = len(redacting.records())
    with client(redacting) as c:
        with c.stream(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "config?"}],
            },
        ) as resp:
            received = b"".join(resp.iter_raw())
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in received.decode().split("\n\n")
        if line.startswith("data: {")
    )
    assert API_KEY[:11] not in text and API_KEY[11:23] not in text and API_KEY[23:] not in text
    assert text.startswith("Put this in settings.py:") and text.endswith("done")
    assert "[REDACTED:generic_secret]" in text
    record = redacting.next_record(before)
    assert any(f["type"] == "generic_secret" and f["direction"] == "response" for f in record["dlp"])


def test_credentials_in_their_own_authorization_header_pass_unchanged(redacting, upstream):
    upstream.app.serve_fixture("/v1/chat/completions", json.dumps(CHAT).encode(), "application/json")
    upstream.app.serve_fixture("/tool/status", b'{"ok": true}', "application/json")
    with client(redacting) as c:
        before = len(upstream.app.seen)
        own = c.post(
            "https://api.openai.com/v1/chat/completions",
            headers={"authorization": f"Bearer {OPENAI_KEY}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        provider = sent(upstream, "/v1/chat/completions", before)
        before = len(upstream.app.seen)
        opaque = c.get("https://upstream.test/tool/status", headers={"authorization": f"Bearer {OPAQUE}"})
        tool = sent(upstream, "/tool/status", before)
    assert own.status_code == opaque.status_code == 200
    assert provider["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert redacting.record_for(own.headers["x-palaryn-request-id"])["dlp"] == []
    # an opaque token names no issuer: in a real Authorization header it is the caller's own credential
    assert tool["headers"]["authorization"] == f"Bearer {OPAQUE}"
    assert redacting.record_for(opaque.headers["x-palaryn-request-id"])["dlp"] == []
