"""Vendor credential formats (secrets_vendors_*) through the real proxy with `dlp.actions.secrets: redact`: a
sample of shapes (a prefix, a prefix with dots, a literal inside, a literal at the end, a run of A's, a
vendor-named bare value, a field name, a URL) redacted in a request body sent over CONNECT, in a response
body, and across the chunks of an SSE stream."""

from __future__ import annotations

import importlib.util
import json
import ssl
from pathlib import Path

import httpx
import pytest

from e2e.harness import Proxy

_spec = importlib.util.spec_from_file_location(
    "dlp_fakes", Path(__file__).parents[1] / "engine" / "dlp" / "dlp_fakes.py"
)
assert _spec is not None and _spec.loader is not None
dlp_fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dlp_fakes)
fake = dlp_fakes.fake

# type -> a made-up value of its shape, built at run time (no live-format literal in git)
SAMPLE = {
    "groq_api_key": fake("groq_api_key", 21),
    "vault_token": fake("vault_token", 21),
    "terraform_cloud_token": fake("terraform_cloud_token", 21),
    "mailchimp_api_key": fake("mailchimp_api_key", 21),
    "twitter_bearer_token": fake("twitter_bearer_token", 21),
    "age_secret_key": fake("age_secret_key", 21),
    "square_oauth_secret": fake("square_oauth_secret", 21),
    "newrelic_license_key": fake("newrelic_license_key", 21),
    "digitalocean_pat": fake("digitalocean_pat", 21),
    "onepassword_secret_key": fake("onepassword_secret_key", 21),
}
OKTA = fake("okta_api_token", 21)  # named: only after OKTA_..._TOKEN
ZENDESK = fake("alnum40", 21)  # named by its JSON field
TEAMS_PATH = fake("teams_webhook_path", 21)
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
}


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


def last_seen(upstream, path: str, before: int) -> dict:
    return [s for s in upstream.app.seen[before:] if s["path"] == path][-1]


@pytest.fixture(scope="module")
def vendor_proxy(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(
        tmp_path_factory.mktemp("vendor-dlp-proxy"),
        upstream,
        shared_certs,
        {"dlp": {"actions": {"secrets": "redact"}}},
    )
    yield p
    p.stop()


def _env_file() -> str:
    lines = [f"{t.upper()}={v}" for t, v in SAMPLE.items()]
    return "\n".join(
        [*lines, f"OKTA_API_TOKEN={OKTA}", f"TEAMS=https://acme.webhook.office.com/webhookb2/{TEAMS_PATH}"]
    )


def test_vendor_keys_in_a_request_body_over_connect_are_redacted(vendor_proxy, upstream):
    upstream.app.serve_fixture("/v1/chat/completions", json.dumps(CHAT).encode(), "application/json")
    before = len(upstream.app.seen)
    prompt = f"Why does my deploy fail? Here is the .env:\n{_env_file()}\nThanks."
    with client(vendor_proxy) as c:
        resp = c.post(
            "https://api.openai.com/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": prompt}],
                "metadata": {"zendesk_api_token": ZENDESK},
            },
        )
    assert resp.status_code == 200
    sent = last_seen(upstream, "/v1/chat/completions", before)["body"].decode()
    body = json.loads(sent)  # still valid JSON
    for value in [*SAMPLE.values(), OKTA, ZENDESK, TEAMS_PATH]:
        assert value not in sent
    content = body["messages"][0]["content"]
    for type_ in [*SAMPLE, "okta_api_token", "teams_webhook_url"]:
        assert f"[REDACTED:{type_}]" in content, type_
    assert body["metadata"]["zendesk_api_token"] == "[REDACTED:zendesk_api_token]"
    assert content.startswith("Why does my deploy fail?") and content.endswith("\nThanks.")
    record = vendor_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "redact"
    found = {f["type"] for f in record["dlp"] if f["direction"] == "request" and f["action"] == "redact"}
    assert found >= {*SAMPLE, "okta_api_token", "zendesk_api_token", "teams_webhook_url"}
    assert not any(v in json.dumps(record) for v in SAMPLE.values())


def test_vendor_keys_in_a_response_body_are_redacted(vendor_proxy, upstream):
    config = {
        "deploy": {"vault_token": SAMPLE["vault_token"], "region": "eu-west-1"},
        "notes": f"mailchimp key {SAMPLE['mailchimp_api_key']} and age key {SAMPLE['age_secret_key']}",
        "ok": True,
    }
    upstream.app.serve_fixture("/vendor-config", json.dumps(config).encode(), "application/json")
    with client(vendor_proxy) as c:
        resp = c.get("https://upstream.test/vendor-config")
    assert resp.status_code == 200
    for t in ("vault_token", "mailchimp_api_key", "age_secret_key"):
        assert SAMPLE[t] not in resp.text and f"[REDACTED:{t}]" in resp.text
    assert resp.json()["ok"] is True and resp.json()["deploy"]["region"] == "eu-west-1"
    record = vendor_proxy.record_for(resp.headers["x-palaryn-request-id"])
    found = {f["type"] for f in record["dlp"] if f["direction"] == "response"}
    assert found >= {"vault_token", "mailchimp_api_key", "age_secret_key"}


def test_vendor_key_split_across_sse_chunks_is_redacted(vendor_proxy, upstream):
    token = SAMPLE["groq_api_key"]
    half = len(token) // 2
    events = [
        {
            "choices": [{"index": 0, "delta": {"content": text}}],
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "id": "c",
        }
        for text in ("Set GROQ_API_KEY to ", token[:half], token[half:], " and retry.")
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", body, "text/event-stream", chunks=5, delay=0.05)
    before = len(vendor_proxy.records())
    with client(vendor_proxy) as c:
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
    assert token[:half] not in text and token[half:] not in text
    assert text.startswith("Set GROQ_API_KEY to ") and text.endswith(" and retry.")
    assert "[REDACTED:groq_api_key]" in text
    record = vendor_proxy.next_record(before)
    assert any(f["type"] == "groq_api_key" and f["direction"] == "response" for f in record["dlp"])


def test_vendor_key_sent_to_its_own_api_is_normal_use(vendor_proxy, upstream):
    """The binding table: a Groq key in the Authorization header of a request to api.groq.com passes."""
    upstream.app.serve_fixture("/openai/v1/models", b'{"data": []}', "application/json")
    key = SAMPLE["groq_api_key"]
    before = len(upstream.app.seen)
    with client(vendor_proxy) as c:
        own = c.get("https://api.groq.com/openai/v1/models", headers={"authorization": f"Bearer {key}"})
    assert own.status_code == 200
    assert last_seen(upstream, "/openai/v1/models", before)["headers"]["authorization"] == f"Bearer {key}"
    assert vendor_proxy.record_for(own.headers["x-palaryn-request-id"])["dlp"] == []
