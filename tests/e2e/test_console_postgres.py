"""A fleet: two proxies on one Postgres event store and one Redis; the console of either shows both's flows,
and an approval held by one is released through the other's API."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time

import httpx
import pytest
from pgproc import PostgresProcess, require_postgres

from e2e.redisproc import RedisProcess

TOKEN = "fleet-approver-token"
PACK = """
name: fleet
version: "1"
default_effect: ALLOW
rules:
  - name: deploys-need-a-person
    effect: REQUIRE_APPROVAL
    priority: 10
    conditions: {methods: [POST], paths: ["/deploy*"]}
    approval: {scope: admin, ttl_seconds: 60, hold_seconds: 15}
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    tmp_path = tmp_path_factory.mktemp("fleet")
    pg = PostgresProcess(require_postgres()).start()
    redis_proc = RedisProcess(tmp_path / "redis")
    redis_proc.workdir.mkdir()
    proxies = []
    try:
        redis_proc.start()
        url = pg.create_database("palaryn_events")
        (tmp_path / "pack.yaml").write_text(PACK)
        token = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
        shared = {
            "storage": {"url": redis_proc.url},
            "events": {"url": url},
            "policy_packs": [str(tmp_path / "pack.yaml")],
            "admin": {"tokens": [{"token": token, "role": "approver"}]},
        }
        for name in ("one", "two"):
            proxies.append(start_proxy(tmp_path / name, upstream, shared_certs, shared))
        yield proxies
    finally:
        for proxy in proxies:
            proxy.stop()
        redis_proc.stop()
        pg.stop()


def api(proxy) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{proxy.metrics_port}",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)  # fmt: skip


def agent(proxy, actor: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False,
                        headers={"X-Palaryn-Actor": actor})  # fmt: skip


def test_either_console_shows_both_proxies_flows(fleet):
    ids = {}
    for proxy, actor in zip(fleet, ("agent-one", "agent-two"), strict=True):
        with agent(proxy, actor) as c:
            ids[actor] = c.get("https://upstream.test/echo").headers["x-palaryn-request-id"]
    for proxy in fleet:
        deadline = time.monotonic() + 15
        with api(proxy) as console:
            while True:
                flows = console.get("/api/v1/flows", params={"since": "1h"}).json()["flows"]
                seen = {f["actor"]: f["request_id"] for f in flows}
                if all(seen.get(a) == i for a, i in ids.items()) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert seen.get("agent-one") == ids["agent-one"] and seen.get("agent-two") == ids["agent-two"]
            summary = console.get("/api/v1/summary", params={"since": "1h"}).json()
            assert summary["requests"] >= 2


def test_an_approval_held_by_one_is_released_through_the_other(fleet):
    one, two = fleet
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        with agent(one, "deployer") as c:
            result["answer"] = c.post("https://upstream.test/deploy-now", json={"v": 1})

    thread = threading.Thread(target=post)
    thread.start()
    with api(two) as console:
        deadline = time.monotonic() + 10
        pending: list[dict] = []
        while not pending and time.monotonic() < deadline:
            pending = console.get("/api/v1/approvals").json()["approvals"]
            time.sleep(0.1)
        assert pending, "the approval held by proxy one is not visible to proxy two"
        assert console.post(f"/api/v1/approvals/{pending[0]['id']}/approve").status_code == 200
    thread.join(10)
    assert result["answer"].status_code == 404  # reached the upstream (no such route there)
