"""Two proxy processes sharing one real redis-server: what one replica decides, the other enforces
(budgets, rate limits and approvals)."""

from __future__ import annotations

import ssl
from decimal import Decimal
from pathlib import Path

import httpx

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"


def client(proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, trust_env=False, timeout=20)


def replicas(proxy_factory, redis_proc, extra: dict) -> tuple:
    config = {"storage": {"url": redis_proc.url, "key_prefix": "palaryn-replicas:"}, **extra}
    return proxy_factory(config, name="replica-a"), proxy_factory(config, name="replica-b")


CHAT = {"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def test_budget_and_rate_limit_decided_on_one_replica_hold_on_the_other(proxy_factory, upstream, redis_proc):
    a, b = replicas(
        proxy_factory,
        redis_proc,
        {
            "budgets": [{"name": "shared", "scope": "global", "period": "day", "limit_usd": 0.001}],
            "rate_limits": [
                {"name": "shared-rpm", "scope": "host", "match": "upstream.test", "requests_per_minute": 3}
            ],
        },
    )
    # The worst case of this call (short prompt, max_tokens=10) is admitted; the provider then bills
    # 2006 input + 18 output tokens of gpt-4o ($0.002795), which exhausts the shared budget.
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), "application/json"
    )
    with client(a) as ca:
        first = ca.post("https://api.openai.com/v1/chat/completions", json=CHAT)
        assert [ca.get("https://upstream.test/echo").status_code for _ in range(3)] == [200, 200, 200]
    assert first.status_code == 200
    assert Decimal(a.record_for(first.headers["x-palaryn-request-id"])["cost_usd"]) == Decimal("0.002795")
    with client(b) as cb:
        refused = cb.post("https://api.openai.com/v1/chat/completions", json=CHAT)
        limited = cb.get("https://upstream.test/echo")
    assert refused.status_code == 402
    assert "shared" in refused.json()["error"]["message"]
    assert b.record_for(refused.headers["x-palaryn-request-id"])["decision"] == "budget_exceeded"
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "shared-rpm" in limited.json()["error"]["message"]
    assert b.record_for(limited.headers["x-palaryn-request-id"])["decision"] == "rate_limited"
    with client(a) as ca:  # and on A itself, of course
        assert ca.post("https://api.openai.com/v1/chat/completions", json=CHAT).status_code == 402


def test_approval_held_on_one_replica_is_decided_from_the_cli_and_remembered_by_the_other(
    proxy_factory, redis_proc, tmp_path
):
    import json
    import subprocess
    import threading
    import time

    from e2e.harness import BIN, base_env

    pack = tmp_path / "approve.yaml"
    pack.write_text(
        "name: approve\nversion: '1'\ndefault_effect: ALLOW\nrules:\n"
        "  - {name: deploys, effect: REQUIRE_APPROVAL, priority: 1, conditions: {paths: ['/deploy']},\n"
        "     approval: {ttl_seconds: 120, hold_seconds: 15}}\n"
    )
    a, b = replicas(proxy_factory, redis_proc, {"policy_packs": [str(pack)]})
    held: dict[str, httpx.Response] = {}

    def request_on_a() -> None:
        with client(a) as ca:
            held["a"] = ca.post("https://upstream.test/deploy", json={"v": 1})

    worker = threading.Thread(target=request_on_a)
    worker.start()
    listed: list = []
    deadline = time.monotonic() + 8
    while not listed and time.monotonic() < deadline:  # the CLI pointed at replica B's config sees it
        out = subprocess.run(
            [str(BIN), "approvals", "list", "--json", "--config", str(b.config_path)],
            capture_output=True,
            text=True,
            env=base_env(),
        )
        listed = json.loads(out.stdout or "[]")
        time.sleep(0.2)
    assert len(listed) == 1
    approved = subprocess.run(
        [str(BIN), "approvals", "approve", listed[0]["id"], "--config", str(b.config_path)],
        capture_output=True,
        text=True,
        env=base_env(),
    )
    assert approved.returncode == 0, approved.stderr
    worker.join(20)
    assert held["a"].status_code == 404  # went upstream (the fake has no /deploy route)
    with client(b) as cb:  # the same request on the other replica is remembered as approved
        started = time.monotonic()
        assert cb.post("https://upstream.test/deploy", json={"v": 1}).status_code == 404
        assert time.monotonic() - started < 3
