"""Policy packs through the real proxy: each effect, allow/blocklists, report mode, transforms, MCP tool calls,
model tool calls, human approval from the CLI, shipped packs, reload, and destination binding."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from e2e.harness import BIN, Proxy, base_env, curl

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"

PACK = """
name: test-pack
version: "1.0"
description: every effect, in Palaryn's pack format
domain_blocklist: ["forbidden.upstream.test"]
default_effect: ALLOW
rules:
  - name: no-admin-deletes
    description: deletes under /admin are refused
    effect: DENY
    priority: 10
    conditions: {methods: [DELETE], paths: ["/admin/*"]}
  - name: cap-llm-tokens
    description: cheaper model and capped tokens for the dev actor
    effect: TRANSFORM
    priority: 20
    conditions: {actors: [dev-*], providers: [openai]}
    transform:
      set_json: {/model: gpt-4o-mini}
      cap_json: {/max_tokens: 64}
      set_headers: {X-Policy: applied}
      remove_headers: [X-Debug]
  - name: deploys-need-a-person
    description: deploys wait for approval
    effect: REQUIRE_APPROVAL
    priority: 30
    conditions: {methods: [POST], paths: ["/deploy*"]}
    approval: {scope: admin, ttl_seconds: 120, reason: "deploys are reviewed", hold_seconds: 8}
  - name: no-shell-tool
    description: MCP shell execution is refused
    effect: DENY
    priority: 40
    conditions: {tools: [run_shell]}
  - name: model-may-not-fetch-weather
    description: tools the model may not call
    effect: DENY
    priority: 50
    conditions: {model_tools: [get_weather, get_current_weather]}
  - name: audit-exports
    description: exports would be denied, rolled out in report mode first
    effect: DENY
    priority: 60
    mode: report
    conditions: {paths: ["/export*"]}
"""


@pytest.fixture(scope="module")
def policy_proxy(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    workdir = tmp_path_factory.mktemp("policy-proxy")
    pack = workdir / "pack.yaml"
    pack.write_text(PACK)
    p = start_proxy(
        workdir, upstream, shared_certs, {"policy_packs": [str(pack)], "approval_hold_seconds": 8}
    )
    yield p
    p.stop()


def client(proxy: Proxy, actor: str = "agent", **kwargs) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(
        proxy=proxy.url,
        verify=trust,
        timeout=30,
        trust_env=False,
        headers={"X-Palaryn-Actor": actor},
        **kwargs,
    )


def cli(proxy: Proxy, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args, "--config", str(proxy.config_path)],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=30,
    )


def test_deny_names_the_rule(policy_proxy):
    with client(policy_proxy) as c:
        denied = c.delete("https://upstream.test/admin/users")
        allowed = c.delete("https://upstream.test/echo")
        blocked = c.get("https://forbidden.upstream.test/echo")
    assert denied.status_code == 403 and denied.headers["x-palaryn-decision"] == "deny"
    assert "no-admin-deletes" in denied.json()["error"]["message"]
    assert allowed.status_code == 200, allowed.text
    assert blocked.status_code == 403 and "domain_blocklist" in blocked.json()["error"]["message"]
    record = policy_proxy.record_for(denied.headers["x-palaryn-request-id"])
    assert record["decision"] == "deny" and record["reasons"][-1]["rule"] == "no-admin-deletes"


def test_report_mode_allows_and_records(policy_proxy):
    with client(policy_proxy) as c:
        resp = c.get("https://upstream.test/export/all")
    assert resp.status_code == 404  # the upstream answered: the rule only reports
    record = policy_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "allow"
    assert any(r["rule"] == "audit-exports" and "would have DENY" in r["message"] for r in record["reasons"])


def test_transform_rewrites_llm_body_and_headers(policy_proxy, upstream):
    upstream.app.serve_fixture(
        "/v1/chat/completions",
        (FIXTURES / "openai_chat_reasoning.resp.json").read_bytes(),
        "application/json",
    )
    before = len(upstream.app.seen)
    with client(policy_proxy, actor="dev-alice") as c:
        resp = c.post(
            "https://api.openai.com/v1/chat/completions",
            headers={"X-Debug": "1"},
            json={"model": "gpt-4o", "max_tokens": 4000, "messages": [{"role": "user", "content": "x"}]},
        )
    assert resp.status_code == 200
    seen = next(s for s in upstream.app.seen[before:] if s["path"] == "/v1/chat/completions")
    sent = json.loads(seen["body"])
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 64
    assert seen["headers"]["x-policy"] == "applied" and "x-debug" not in seen["headers"]
    record = policy_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert any(r["rule"] == "cap-llm-tokens" for r in record["reasons"])


def test_mcp_tool_call_allowed_or_denied_by_tool_name(policy_proxy):
    def call(name: str, batch: bool = False) -> httpx.Response:
        msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}}
        other = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {}},
        }
        with client(policy_proxy) as c:
            return c.post("https://upstream.test/echo", json=[other, msg] if batch else msg)

    first = call("search")
    assert first.status_code == 200, first.text
    denied = call("run_shell")
    assert denied.status_code == 403 and "no-shell-tool" in denied.json()["error"]["message"]
    assert call("run_shell", batch=True).status_code == 403  # one denied call denies the batch
    record = policy_proxy.record_for(denied.headers["x-palaryn-request-id"])
    assert (record["kind"], record["tool"]) == ("mcp", "run_shell")


def test_model_asking_for_denied_tool_gets_provider_error(policy_proxy, upstream):
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), "application/json"
    )
    sdk = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=client(policy_proxy))
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}])
    assert "get_weather" in str(err.value)
    record = policy_proxy.record_for(err.value.response.headers["x-palaryn-request-id"])
    assert record["decision"] == "deny" and record["model_tools"] == ["get_weather"]


def test_streamed_denied_tool_call_is_cut_before_it_reaches_the_client(policy_proxy, upstream):
    body = (FIXTURES / "openai_chat_tools_stream.sse").read_bytes()
    events = body.split(b"\n\n")
    upstream.app.serve_fixture(
        "/v1/chat/completions",
        b"".join(e + b"\n\n" for e in events if e),
        "text/event-stream",
        chunks=len(events),
        delay=0.01,
    )
    before = len(policy_proxy.records())
    with client(policy_proxy) as c:
        with c.stream(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4.1", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as r:
            received = b"".join(r.iter_raw())
    assert b'"tool_calls"' not in received  # the tool-call event never reached the client
    assert b"tool_denied" in received  # the stream ends with an error event, not a silent cut
    record = policy_proxy.next_record(before)
    assert record["decision"] == "deny" and "get_current_weather" in record["model_tools"]


def test_approval_approved_denied_timed_out_and_retry(policy_proxy):
    results: dict[str, httpx.Response] = {}

    def post(tag: str, path: str) -> None:
        with client(policy_proxy) as c:
            results[tag] = c.post(f"https://upstream.test{path}", json={"release": tag})

    def pending() -> list[dict]:
        out = cli(policy_proxy, "approvals", "list", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    threads = [threading.Thread(target=post, args=(t, f"/deploy-{t}")) for t in ("ok", "no", "late")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(pending()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    waiting = {a["url"].rsplit("-", 1)[1]: a["id"] for a in pending()}
    with client(policy_proxy) as c:  # unrelated requests keep flowing during the hold
        assert c.get("https://upstream.test/echo").status_code == 200
    assert cli(policy_proxy, "approvals", "approve", waiting["ok"]).returncode == 0
    assert cli(policy_proxy, "approvals", "deny", waiting["no"], "--reason", "not today").returncode == 0
    for t in threads:
        t.join(20)
    assert results["ok"].status_code == 404  # reached the upstream (which has no /deploy route)
    denied, late = results["no"], results["late"]
    assert denied.status_code == 403 and denied.headers["x-palaryn-decision"] == "deny"
    assert "not today" in denied.json()["error"]["message"]
    assert late.status_code == 403 and late.headers["x-palaryn-decision"] == "approval_required"
    assert late.headers["x-palaryn-approval-id"] == waiting["late"]
    assert f"approvals approve {waiting['late']}" in late.json()["error"]["message"]
    assert cli(policy_proxy, "approvals", "approve", waiting["late"]).returncode == 0
    with client(policy_proxy) as c:  # the retry within ttl passes at once
        started = time.monotonic()
        retry = c.post("https://upstream.test/deploy-late", json={"release": "late"})
        assert retry.status_code == 404 and time.monotonic() - started < 3
    decisions = {
        r["url"].rsplit("-", 1)[-1]: r["decision"] for r in policy_proxy.records() if "/deploy-" in r["url"]
    }
    assert decisions["no"] == "deny"


def test_shipped_default_pack(proxy_factory):
    proxy = proxy_factory({"policy_packs": ["default"], "approval_hold_seconds": 1})
    with client(proxy) as c:
        assert c.get("https://upstream.test/echo").status_code == 200
        assert c.delete("https://upstream.test/echo").status_code == 403
        write = c.post("https://upstream.test/echo", json={})
        assert write.status_code == 403 and write.headers["x-palaryn-decision"] == "approval_required"
        assert c.get("https://169.254.169.254/latest/meta-data/").status_code == 403


def test_llm_only_pack(proxy_factory, upstream):
    proxy = proxy_factory({"policy_packs": ["llm_only"]})
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), "application/json"
    )
    with client(proxy) as c:
        assert (
            c.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o"}).status_code == 200
        )
        assert c.get("https://upstream.test/echo").status_code == 403


def test_pack_reload_and_invalid_pack_keeps_old_policy(proxy_factory, tmp_path):
    pack = tmp_path / "live.yaml"
    pack.write_text("name: live\nversion: '1'\ndefault_effect: ALLOW\nrules: []\n")
    proxy = proxy_factory({"policy_packs": [str(pack)]})
    with client(proxy) as c:
        assert c.get("https://upstream.test/echo").status_code == 200
        pack.write_text(
            "name: live\nversion: '2'\ndefault_effect: ALLOW\nrules:\n"
            "  - {name: no-echo, effect: DENY, priority: 1, conditions: {paths: ['/echo']}}\n"
        )
        deadline = time.monotonic() + 10
        while c.get("https://upstream.test/echo").status_code != 403 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert c.get("https://upstream.test/echo").status_code == 403
        pack.write_text("name: live\nrules: [{effect: MAYBE}]\n")  # invalid: the old policy stays
        time.sleep(3)
        assert c.get("https://upstream.test/echo").status_code == 403
    assert "policy reload failed" in (proxy.workdir / "proxy.stderr").read_text()


def test_destination_mismatch_is_refused(proxy, agent_env):
    out = curl(agent_env, "-H", "Host: other.test", "https://upstream.test/echo")
    body = json.loads(out.stdout)
    assert body["error"]["code"] == "destination_mismatch"


def test_policy_cli_validate_and_test(tmp_path):
    pack = tmp_path / "p.yaml"
    pack.write_text(PACK)
    ok = subprocess.run([str(BIN), "policy", "validate", str(pack)], capture_output=True, text=True)
    assert ok.returncode == 0 and "test-pack: OK" in ok.stdout
    out = subprocess.run(
        [
            str(BIN),
            "policy",
            "test",
            str(pack),
            "--method",
            "DELETE",
            "--url",
            "https://upstream.test/admin/x",
        ],
        capture_output=True,
        text=True,
    )
    assert "decision: DENY" in out.stdout and "no-admin-deletes" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - name: r1\n    effect: PERMIT\n")
    err = subprocess.run([str(BIN), "policy", "validate", str(bad)], capture_output=True, text=True)
    assert err.returncode == 1 and "bad" in err.stderr and "r1" in err.stderr and "effect" in err.stderr
