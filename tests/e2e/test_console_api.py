"""The admin API against a real proxy with real traffic: totals equal the audit log, filters and cursors,
tokens and roles, CSRF and Origin checks, approvals released from the API, the live event stream."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest
from fakesecrets import github_token

from e2e.harness import Proxy

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
VIEWER, APPROVER = "viewer-token-0123456789", "approver-token-9876543210"
PACK = """
name: console-pack
version: "1"
default_effect: ALLOW
rules:
  - name: deploys-need-a-person
    effect: REQUIRE_APPROVAL
    priority: 10
    conditions: {methods: [POST], paths: ["/deploy*"]}
    approval: {scope: admin, ttl_seconds: 60, reason: "deploys are reviewed", hold_seconds: 15}
  - name: no-admin
    effect: DENY
    priority: 20
    conditions: {paths: ["/admin*"]}
  - name: exports-report
    effect: DENY
    priority: 30
    mode: report
    conditions: {paths: ["/export*"]}
"""


def sha(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def console(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    workdir = tmp_path_factory.mktemp("console")
    (workdir / "pack.yaml").write_text(PACK)
    extra = {
        "policy_packs": [str(workdir / "pack.yaml")],
        "dlp": {"actions": {"secrets": "block"}},
        "admin": {
            "tokens": [
                {"token": sha(VIEWER), "role": "viewer"},
                {"token": sha(APPROVER), "role": "approver", "name": "alice"},
            ]
        },
        "budgets": [{"name": "daily", "scope": "actor", "limit_usd": 10, "period": "day"}],
    }
    proxy = start_proxy(workdir, upstream, shared_certs, extra)
    yield proxy
    proxy.stop()


def agent(proxy: Proxy, actor: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False,
                        headers={"X-Palaryn-Actor": actor})  # fmt: skip


def admin(proxy: Proxy, token: str | None = APPROVER, **kw) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{proxy.metrics_port}", headers=headers, timeout=20, **kw)


def openai_via(proxy: Proxy, actor: str) -> openai.OpenAI:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    http = httpx.Client(proxy=proxy.url, verify=trust, trust_env=False, headers={"X-Palaryn-Actor": actor})
    return openai.OpenAI(api_key="sk-test", max_retries=0, http_client=http)


def wait_stored(proxy: Proxy, count: int) -> None:
    """The event store is written in batches off the hot path: wait until it holds `count` flows."""
    deadline = time.monotonic() + 15
    with admin(proxy) as api:
        while time.monotonic() < deadline:
            if api.get("/api/v1/summary", params={"since": "1h"}).json()["requests"] >= count:
                return
            time.sleep(0.1)
    raise AssertionError(f"the event store did not reach {count} flows")


@pytest.fixture(scope="module")
def traffic(console, upstream):
    """LLM calls from two actors, a DLP block, a policy deny, a report-mode hit and plain requests."""
    body = (FIXTURES / "openai_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, "application/json")
    for actor, calls in (("alice-bot", 3), ("bob-bot", 2)):
        client = openai_via(console, actor)
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with agent(console, "bob-bot") as c:
        assert c.post("https://upstream.test/echo", content=f"key={github_token()}").status_code == 403
        assert c.get("https://upstream.test/admin/users").status_code == 403
        assert c.get("https://upstream.test/export/all").status_code in (200, 404)
        for _ in range(3):
            assert c.get("https://upstream.test/echo").status_code == 200
    records = console.wait_records(11)
    wait_stored(console, len(records))
    return records


def test_summary_equals_the_audit_log(console, traffic):
    with admin(console, VIEWER) as api:
        summary = api.get("/api/v1/summary", params={"since": "24h"}).json()
    llm = [r for r in traffic if r["kind"] == "llm"]
    assert summary["requests"] == len(traffic)
    assert summary["llm_requests"] == len(llm) == 5
    assert summary["input_tokens"] == sum(r["usage"]["input_tokens"] for r in llm)
    assert summary["output_tokens"] == sum(r["usage"]["output_tokens"] for r in llm)
    assert Decimal(str(summary["cost_usd"])) == sum(Decimal(r["cost_usd"]) for r in llm)
    blocked = {}
    for r in traffic:
        if r["decision"] not in ("allow", "redact"):
            blocked[r["decision"]] = blocked.get(r["decision"], 0) + 1
    assert summary["blocked"] == blocked and blocked["deny"] == 2
    assert summary["dlp_findings"] == sum(len(r["dlp"]) for r in traffic) >= 1
    assert summary["pending_approvals"] == 0


def test_spend_by_actor_and_model(console, traffic):
    with admin(console, VIEWER) as api:
        rows = api.get("/api/v1/spend", params={"by": "actor", "since": "24h", "bucket": "none"}).json()
        hourly = api.get("/api/v1/spend", params={"by": "model", "since": "24h", "bucket": "1h"}).json()
    by_actor = {row["group"]: row for row in rows}
    for actor in ("alice-bot", "bob-bot"):
        mine = [r for r in traffic if r["actor"] == actor]
        assert by_actor[actor]["requests"] == len(mine)
        cost = sum(Decimal(r["cost_usd"]) for r in mine if r["cost_usd"])
        assert Decimal(str(by_actor[actor]["cost_usd"])) == cost
    assert set(hourly[0]) >= {
        "group",
        "bucket_start",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    llm_cost = sum(Decimal(r["cost_usd"]) for r in traffic if r["cost_usd"])
    assert sum(Decimal(str(row["cost_usd"])) for row in hourly) == llm_cost


def test_flows_filter_paginate_and_detail(console, traffic):
    with admin(console, VIEWER) as api:
        alice = api.get("/api/v1/flows", params={"actor": "alice-bot"}).json()
        assert [f["actor"] for f in alice["flows"]] == ["alice-bot"] * 3 and alice["next_cursor"] is None
        denied = api.get("/api/v1/flows", params={"decision": "deny"}).json()["flows"]
        assert len(denied) == 2 and all(f["decision"] == "deny" for f in denied)
        seen, cursor = [], None
        while True:
            params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
            page = api.get("/api/v1/flows", params=params).json()
            seen += [f["request_id"] for f in page["flows"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(r["request_id"] for r in traffic) and len(seen) == len(set(seen))
        newest = api.get("/api/v1/flows", params={"limit": "1"}).json()["flows"][0]
        assert newest["request_id"] == max(traffic, key=lambda r: r["ts"])["request_id"]
        blocked = next(r for r in traffic if r["dlp"])
        detail = api.get(f"/api/v1/flows/{blocked['request_id']}").json()
        assert detail["dlp"] == blocked["dlp"] and detail["reasons"] == blocked["reasons"]
        assert github_token() not in json.dumps(detail)
        reasons = [json.dumps(r, sort_keys=True) for r in detail["reasons"]]
        assert len(reasons) == len(set(reasons))  # the block is recorded once, not once more by the refusal
        assert api.get("/api/v1/flows/req_does_not_exist").status_code == 404
        bad = api.get("/api/v1/flows", params={"cursor": "garbage"})
        assert bad.status_code == 400 and "cursor" in bad.json()["error"]["message"]


def test_security_and_policy_views(console, traffic):
    with admin(console, VIEWER) as api:
        security = api.get("/api/v1/security", params={"since": "24h"}).json()
        policy = api.get("/api/v1/policy", params={"since": "24h"}).json()
    assert sum(d["count"] for d in security["dlp"]) == sum(len(r["dlp"]) for r in traffic)
    assert [p["name"] for p in policy["packs"]] == ["console-pack"]
    hits = {h["rule"]: h for h in policy["hits"]}
    assert hits["no-admin"]["hits"] == 1
    assert hits["exports-report"]["report_only"] == 1


def test_budgets_match_the_cli(console, traffic):
    with admin(console, VIEWER) as api:
        budgets = api.get("/api/v1/budgets").json()
    out = console.cli("budget", "status", "--json", "--config", str(console.config_path))
    assert out.returncode == 0, out.stderr
    cli_rows = json.loads(out.stdout)
    assert {(b["name"], b["scope_value"], b["spent_usd"]) for b in budgets} == {
        (b["name"], b["scope_value"], b["spent_usd"]) for b in cli_rows
    }
    assert {b["scope_value"] for b in budgets} >= {"alice-bot", "bob-bot"}


def test_auth_roles_and_errors(console):
    with admin(console, None) as anon, admin(console, "not-a-token") as wrong:
        missing = anon.get("/api/v1/summary")
        assert missing.status_code == 401 and "Bearer" in missing.json()["error"]["message"]
        assert wrong.get("/api/v1/summary").status_code == 401
        assert anon.get("/metrics").status_code == 200  # Prometheus keeps scraping without a token
    with admin(console, VIEWER) as viewer:
        refused = viewer.post("/api/v1/approvals/apr_0000/approve")
        assert refused.status_code == 403 and "approver" in refused.json()["error"]["message"]
        bad = viewer.get("/api/v1/spend", params={"by": "color"})
        assert bad.status_code == 400 and "actor" in bad.json()["error"]["message"]
        assert viewer.get("/api/v1/nothing").status_code == 404
    with admin(console, APPROVER) as approver:
        assert approver.post("/api/v1/approvals/apr_0000/approve").status_code == 404
        cross = approver.post(
            "/api/v1/approvals/apr_0000/approve", headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_origin"


def _hold(console: Proxy, path: str, results: dict) -> threading.Thread:
    def post() -> None:
        with agent(console, "deployer") as c:
            results[path] = c.post(f"https://upstream.test{path}", json={"release": path})

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def _pending(api: httpx.Client, path: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for approval in api.get("/api/v1/approvals").json()["approvals"]:
            if approval["url"].endswith(path):
                return approval
        time.sleep(0.1)
    raise AssertionError(f"no pending approval for {path}")


def test_approve_and_deny_release_held_requests(console):
    results: dict[str, httpx.Response] = {}
    threads = [_hold(console, "/deploy-yes", results), _hold(console, "/deploy-no", results)]
    with admin(console, APPROVER) as api:
        yes, no = _pending(api, "/deploy-yes"), _pending(api, "/deploy-no")
        assert api.get("/api/v1/summary").json()["pending_approvals"] >= 2
        assert yes["rule"] == "deploys-need-a-person" and yes["actor"] == "deployer"
        started = time.monotonic()
        decided = api.post(f"/api/v1/approvals/{yes['id']}/approve").json()
        assert decided["status"] == "approved" and decided["decided_by"] == "alice"
        threads[0].join(10)
        assert time.monotonic() - started < 1.5  # the held request resumes within a second or so
        denied = api.post(f"/api/v1/approvals/{no['id']}/deny", json={"reason": "not today"})
        assert denied.json()["status"] == "denied"
        again = api.post(f"/api/v1/approvals/{no['id']}/deny")
        assert again.status_code == 409
    threads[1].join(10)
    assert results["/deploy-yes"].status_code == 404  # reached the upstream, which has no such route
    assert results["/deploy-no"].status_code == 403
    assert results["/deploy-no"].headers["x-palaryn-decision"] == "deny"


def test_browser_session_needs_csrf(console):
    base = f"http://127.0.0.1:{console.metrics_port}"
    with httpx.Client(base_url=base, timeout=10) as browser:
        assert browser.post("/api/v1/session", json={"token": "nope"}).status_code == 401
        login = browser.post("/api/v1/session", json={"token": APPROVER})
        assert login.status_code == 200 and "httponly" in login.headers["set-cookie"].lower()
        csrf = login.json()["csrf_token"]
        assert browser.get("/api/v1/session").json()["role"] == "approver"
        assert browser.get("/api/v1/summary").status_code == 200  # the cookie authenticates reads
        no_csrf = browser.post("/api/v1/approvals/apr_0000/approve")
        assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf"
        with_csrf = browser.post("/api/v1/approvals/apr_0000/approve", headers={"X-CSRF-Token": csrf})
        assert with_csrf.status_code == 404  # past the checks: the approval does not exist
        assert browser.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert browser.get("/api/v1/summary").status_code == 401


def test_live_stream_sends_each_finished_flow(console):
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with admin(console, VIEWER) as api, api.stream("GET", "/api/v1/events/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                ready.set()
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    with agent(console, "streamer") as c:
        request_id = c.get("https://upstream.test/echo").headers["x-palaryn-request-id"]
    thread.join(10)
    assert got and got[0]["request_id"] == request_id and got[0]["actor"] == "streamer"


def test_dashboard_is_served_with_a_strict_policy(console):
    with admin(console, None) as anon:
        page = anon.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert anon.get("/../../etc/passwd").status_code == 404


def test_open_mode_answers_loopback_only(proxy_factory):
    proxy = proxy_factory({})
    with admin(proxy, None) as api:
        assert api.get("/api/v1/summary").status_code == 200
        assert api.get("/api/v1/session").json()["open"] is True
        rebound = api.get("/api/v1/summary", headers={"Host": "evil.example:80"})
        assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"
    assert "loopback clients only" in proxy.banner


def test_events_import_rebuilds_the_store_idempotently(console, traffic, tmp_path):
    from palaryn_proxy.events import open_event_store

    url = f"sqlite://{tmp_path}/rebuilt.db"
    args = ("events", "import", str(console.audit_path), "--url", url, "--config", str(console.config_path))
    first, again = console.cli(*args), console.cli(*args)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    records = console.records()
    assert f"stored {len(records)} new" in first.stdout and "stored 0 new" in again.stdout
    store = open_event_store(url)
    try:
        rebuilt = store.summary(0)
    finally:
        store.close()
    with admin(console, VIEWER) as api:
        live = api.get("/api/v1/summary", params={"since": str(0)}).json()
    for key in ("input_tokens", "output_tokens", "cost_usd", "dlp_findings"):
        assert rebuilt[key] == live[key]
    assert rebuilt["requests"] == len(records)
