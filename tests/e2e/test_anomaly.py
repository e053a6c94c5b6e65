"""Anomaly detection through real proxies: a rate spike blocked while another actor passes, a looping LLM
agent refused in its provider's format, flags, the webhook, the `anomalies` CLI, and baselines that survive
a restart (SQLite) and are shared between replicas (a real redis-server)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from e2e.harness import BIN, Proxy, base_env
from palaryn_proxy.anomaly.store import SNAPSHOT_PREFIX, decode
from palaryn_proxy.storage import open_storage

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
JSON = "application/json"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "are we there yet?"}]}
# One-second rate buckets and a 24 s window, so a baseline builds in seconds of real time.
FAST = {"bucket_seconds": 1, "window_seconds": 24, "min_samples": 4}


def client(proxy: Proxy, actor: str, workspace: str = "default") -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    headers = {"X-Palaryn-Actor": actor, "X-Palaryn-Workspace": workspace}
    return httpx.Client(
        proxy=proxy.url, verify=trust, timeout=30, trust_env=False, headers=headers,
        limits=httpx.Limits(max_keepalive_connections=0),  # a fresh connection per request, as agents often do
    )  # fmt: skip


def cli_anomalies(proxy: Proxy, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BIN), "anomalies", "--config", str(proxy.config_path), "--json", *args],
        capture_output=True, text=True, env=base_env(), timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def metric(proxy: Proxy, name: str) -> str:
    text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def wait_for_next_second() -> None:
    """Start at the beginning of a one-second bucket (the proxy buckets by the same wall clock)."""
    time.sleep(1.0 - time.time() % 1.0 + 0.02)


def snapshot_entities(db: Path) -> dict[str, dict[str, Any]]:
    """Every stored snapshot's entities, by '<kind>:<name>', read with the proxy's own storage code."""

    async def read() -> dict[str, dict[str, Any]]:
        storage = open_storage(f"sqlite:///{db}")
        try:
            found: dict[str, dict[str, Any]] = {}
            for key in await storage.keys(SNAPSHOT_PREFIX):
                text = await storage.get(key)
                for entity in decode(text)["entities"] if text else []:
                    found[f"{entity['kind']}:{entity['name']}"] = entity
            return found
        finally:
            await storage.close()

    return asyncio.run(read())


def test_burst_after_steady_baseline_is_blocked_while_another_actor_passes(proxy_factory):
    proxy = proxy_factory({"anomaly": {**FAST, "actions": {"request_rate_spike": "block"}}})
    with client(proxy, "looper", "ws-a") as agent, client(proxy, "calm", "ws-b") as other:
        wait_for_next_second()
        for i in range(5):  # baseline: two requests in each of five one-second buckets
            assert agent.get(f"https://upstream.test/echo?b={i}").status_code == 200
            assert agent.get(f"https://upstream.test/echo?c={i}").status_code == 200
            wait_for_next_second()
        burst = [agent.get(f"https://upstream.test/echo?n={i}") for i in range(20)]
        calm = [other.get(f"https://localhost/echo?n={i}") for i in range(3)]  # same second, other actor
    codes = [r.status_code for r in burst]
    first_block = codes.index(429)
    assert codes[:first_block] == [200] * first_block and first_block >= 3  # the spike grows first
    assert set(codes[first_block:]) == {429}  # then every following request in the spike is refused
    assert [r.status_code for r in calm] == [200, 200, 200]
    refused = burst[first_block]
    assert refused.headers["x-palaryn-decision"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 2  # what is left of the one-second bucket
    assert "request_rate_spike" in refused.json()["error"]["message"]
    records = proxy.wait_records(10 + 20 + 3)
    blocked = proxy.record_for(refused.headers["x-palaryn-request-id"])
    assert blocked["decision"] == "rate_limited"
    spike = [a for a in blocked["anomalies"] if a["type"] == "request_rate_spike"]
    assert spike and spike[0]["entity"] == "actor:looper" and spike[0]["action"] == "block"
    assert spike[0]["severity"] in ("low", "medium", "high") and spike[0]["z_score"] > 3
    assert any(r["stage"] == "anomaly" and r["rule"] == "request_rate_spike" for r in blocked["reasons"])
    calm_records = [r for r in records if r["actor"] == "calm"]
    assert [r["decision"] for r in calm_records] == ["allow"] * 3
    counted = metric(proxy, "palaryn_anomalies_total").splitlines()
    assert any('type="request_rate_spike"' in line and "severity=" in line for line in counted)
    listed = cli_anomalies(proxy, "--actor", "looper")
    spikes = sorted(a["entity"] for a in listed if a["type"] == "request_rate_spike")
    assert spikes == [
        "actor:looper",
        "tool:upstream.test",
        "workspace:ws-a",
    ]  # repeats in a bucket are folded
    assert cli_anomalies(proxy, "--actor", "calm") == []


def test_workspace_spike_one_actor_explains_blocks_that_actor_not_its_neighbour(proxy_factory):
    """Same workspace, same host: the looper's burst is a workspace and tool spike too, blamed on it."""
    proxy = proxy_factory({"anomaly": {**FAST, "actions": {"request_rate_spike": "block"}}})
    with client(proxy, "looper", "ws-shared") as agent, client(proxy, "neighbour", "ws-shared") as other:
        wait_for_next_second()
        for i in range(5):
            for who, tag in ((agent, "a"), (other, "b")):
                assert who.get(f"https://upstream.test/echo?{tag}={i}").status_code == 200
            wait_for_next_second()
        burst = [agent.get(f"https://upstream.test/echo?n={i}") for i in range(20)]
        beside = [other.get(f"https://upstream.test/echo?m={i}") for i in range(2)]  # its usual pace
    assert 429 in [r.status_code for r in burst]
    assert [r.status_code for r in beside] == [200, 200]
    blocked = proxy.record_for(burst[-1].headers["x-palaryn-request-id"])
    entities = {a["entity"]: a for a in blocked["anomalies"] if a["type"] == "request_rate_spike"}
    blamed = [a for a in entities.values() if a.get("attributed_to") == "looper"]
    assert blamed and {a["entity"] for a in blamed} <= {"workspace:ws-shared", "tool:upstream.test"}
    assert [proxy.record_for(r.headers["x-palaryn-request-id"])["decision"] for r in beside] == ["allow"] * 2
    neighbour = [r for r in proxy.records() if r["actor"] == "neighbour"]
    assert len(neighbour) == 7 and {r["decision"] for r in neighbour} == {"allow"}


class Receiver:
    """A webhook endpoint on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.bodies


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_looping_llm_agent_is_flagged_then_refused_in_openai_format(proxy_factory, upstream, hook):
    actions = {"repeated_request": "block", "new_tool_usage": "flag"}
    anomaly = {
        "repeat_threshold": 3,
        "repeat_window_seconds": 30,
        "actions": actions,
        "webhook_url": hook.url,
    }
    proxy = proxy_factory({"anomaly": anomaly})
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), JSON
    )
    upstream.app.serve_fixture("/v1/messages", (FIXTURES / "anthropic.resp.json").read_bytes(), JSON)
    messages = {"model": "claude-3-5-sonnet-latest", "max_tokens": 64, "messages": CHAT["messages"]}
    with client(proxy, "loop-agent") as agent:
        first = agent.post("https://api.openai.com/v1/chat/completions", json=CHAT)
        other_tool = agent.post("https://api.anthropic.com/v1/messages", json=messages)
        again = [agent.post("https://api.openai.com/v1/chat/completions", json=CHAT) for _ in range(3)]
    assert first.status_code == 200 and "x-palaryn-anomaly" not in first.headers  # an actor's first tool
    assert other_tool.status_code == 200
    assert other_tool.headers["x-palaryn-anomaly"] == "new_tool_usage"
    assert [r.status_code for r in again] == [200, 429, 429]  # the third identical request is a loop
    refused = again[1].json()["error"]
    assert refused["type"] == "rate_limit_exceeded" and "repeated_request" in refused["message"]
    assert int(again[1].headers["retry-after"]) == 30
    record = proxy.record_for(again[1].headers["x-palaryn-request-id"])
    assert record["decision"] == "rate_limited" and record["kind"] == "llm"
    loop = [a for a in record["anomalies"] if a["type"] == "repeated_request"]
    assert loop and loop[0]["severity"] == "medium" and loop[0]["value"] == 3
    sent = hook.wait(2)
    assert {b["alert"]["type"] for b in sent} >= {"new_tool_usage", "repeated_request"}
    assert all(b["actor"] == "loop-agent" and "url" not in b["alert"] for b in sent)
    listed = cli_anomalies(proxy, "--since", "10m")
    assert [(a["type"], a["actor"]) for a in listed] == [
        ("new_tool_usage", "loop-agent"),
        ("repeated_request", "loop-agent"),
    ]
    table = subprocess.run(
        [str(BIN), "anomalies", "--config", str(proxy.config_path)],
        capture_output=True, text=True, env=base_env(), timeout=30,
    )  # fmt: skip
    assert "repeated_request" in table.stdout and "loop-agent" in table.stdout
    assert 'palaryn_anomaly_webhook_total{result="sent"}' in metric(proxy, "palaryn_anomaly_webhook_total")


def test_baselines_survive_a_restart(proxy_factory):
    """SQLite: saved periodically and at shutdown, restored at start (the actor's tools are remembered)."""
    config = {"anomaly": {"persist_interval_seconds": 1, "actions": {"new_tool_usage": "flag"}}}
    proxy = proxy_factory(config, name="persist")
    with client(proxy, "keeper") as agent:
        assert agent.get("https://upstream.test/echo").status_code == 200
        assert agent.get("https://localhost/echo").headers["x-palaryn-anomaly"] == "new_tool_usage"
    db = proxy.workdir / "palaryn.db"
    deadline = time.monotonic() + 10
    while "actor:keeper" not in snapshot_entities(db) and time.monotonic() < deadline:
        time.sleep(0.2)  # the periodic save, while the proxy runs
    assert snapshot_entities(db)["actor:keeper"]["has_tools"] is True
    assert proxy.stop() == 0
    restarted = proxy_factory(config, name="persist")
    assert "anomaly baselines restored" in (restarted.workdir / "proxy.stderr").read_text()
    with client(restarted, "keeper") as agent:
        known = agent.get("https://upstream.test/echo")
        new = agent.get("http://plain.test/echo")
    with client(restarted, "newcomer") as fresh:
        first_ever = fresh.get("http://plain.test/echo")
    assert "x-palaryn-anomaly" not in known.headers  # remembered from before the restart
    assert new.headers["x-palaryn-anomaly"] == "new_tool_usage"  # restored: not the actor's first tool
    assert "x-palaryn-anomaly" not in first_ever.headers


def test_replicas_share_baselines_through_redis(proxy_factory, redis_proc):
    """Each replica writes its own snapshot; a replica starting later merges its peers'."""
    config = {
        "storage": {"url": redis_proc.url},
        "anomaly": {"persist_interval_seconds": 1, "actions": {"new_tool_usage": "flag"}},
    }
    first = proxy_factory(config, name="replica-a")
    with client(first, "shared") as agent:
        assert agent.get("https://upstream.test/echo").status_code == 200
    assert first.stop() == 0  # its snapshot is saved at shutdown
    second = proxy_factory(config, name="replica-b")
    with client(second, "shared") as agent:
        known = agent.get("https://upstream.test/echo")
        new = agent.get("https://localhost/echo")
    assert "x-palaryn-anomaly" not in known.headers
    assert new.headers["x-palaryn-anomaly"] == "new_tool_usage"  # replica-a's baseline was merged
    assert second.stop() == 0
    keys = sorted(k.decode() for k in redis.Redis(port=redis_proc.port).keys(f"*kv:{SNAPSHOT_PREFIX}*"))
    assert len(keys) == 2 and all(k.endswith((f":{first.port}", f":{second.port}")) for k in keys)
