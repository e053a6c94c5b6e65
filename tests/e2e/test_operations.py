"""Operations on a real proxy process: /readyz follows storage and shutdown, JSON logs without secrets,
SIGHUP reloads block_domains and identity (an invalid file keeps the old config), budgets released at shutdown."""

from __future__ import annotations

import json
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request

import httpx
import yaml

from e2e.test_budgets import budget_status, request, stream_body

SSE = "text/event-stream"
SECRET = "sk-proj-LEAKCHECK0123456789abcdef"


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate, timeout: float = 15.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def client(proxy, **headers: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, trust_env=False, timeout=20, headers=headers)


def test_readyz_follows_storage(proxy_factory, redis_proc):
    proxy = proxy_factory(
        {
            "storage": {"url": redis_proc.url + "?socket_timeout=1", "key_prefix": "palaryn-ready:"},
            "rate_limits": [{"name": "rpm", "scope": "global", "requests_per_minute": 1000}],
        }
    )
    readyz = f"http://127.0.0.1:{proxy.metrics_port}/readyz"
    assert http_get(readyz) == (200, "ok\n")
    assert http_get(f"http://127.0.0.1:{proxy.metrics_port}/healthz")[0] == 200
    redis_proc.stop()
    down = wait_for(lambda: (r := http_get(readyz))[0] == 503 and r)
    assert down and "storage unreachable" in down[1], down
    assert http_get(f"http://127.0.0.1:{proxy.metrics_port}/healthz")[0] == 200  # alive, just not ready
    redis_proc.start()
    assert wait_for(lambda: http_get(readyz) == (200, "ok\n"))


def test_sighup_reloads_block_domains_and_identity_with_json_logs_free_of_secrets(proxy_factory):
    proxy = proxy_factory({"log_format": "json", "log_level": "debug"})
    log = proxy.workdir / "proxy.stderr"
    body = {"messages": [{"role": "user", "content": "BODY-MARKER do not log me"}], "api_key": SECRET}
    with client(proxy, Authorization=f"Bearer {SECRET}") as c:
        first = c.post(f"https://upstream.test/echo?api_key={SECRET}", json=body)
    assert first.status_code == 200
    assert proxy.record_for(first.headers["x-palaryn-request-id"])["actor"] == "anonymous"

    config = yaml.safe_load(proxy.config_path.read_text())
    config["block_domains"] = [*config["block_domains"], "upstream.test"]
    config["identity"] = {"default_actor": "after-reload"}
    proxy.config_path.write_text(yaml.safe_dump(config))
    proxy.process.send_signal(signal.SIGHUP)
    with client(proxy) as c:
        blocked = wait_for(lambda: (r := c.get("https://upstream.test/echo?n=2")).status_code == 403 and r)
    assert blocked, "block_domains was not reloaded"
    assert "upstream.test" in blocked.json()["error"]["message"]
    assert proxy.record_for(blocked.headers["x-palaryn-request-id"])["actor"] == "after-reload"

    proxy.config_path.write_text(proxy.config_path.read_text() + "block_domains: 5\n")  # invalid
    proxy.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reload failed" in log.read_text())
    with client(proxy) as c:
        assert c.get("https://upstream.test/echo?n=3").status_code == 403  # the old (reloaded) config holds
        assert c.get("https://localhost/echo").status_code == 200
    assert proxy.process.poll() is None

    proxy.stop()
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    messages = [line["message"] for line in lines if line["logger"] == "palaryn"]
    assert any("config reloaded" in m and "block_domains" in m and "identity" in m for m in messages)
    assert any("config reload failed" in m and "keeping the running configuration" in m for m in messages)
    assert SECRET not in text and "BODY-MARKER" not in text


def test_shutdown_releases_budget_reservations_and_readyz_drains(proxy_factory, upstream):
    proxy = proxy_factory(
        {
            "drain_timeout": 1.5,
            "budgets": [{"name": "daily", "scope": "global", "period": "day", "limit_usd": 5}],
        }
    )
    # A stream that takes ~8 s: still open when the drain deadline passes.
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(40, 5, 40), SSE, chunks=40, delay=0.2)
    result: dict[str, object] = {}

    def stream() -> None:
        try:
            with (
                client(proxy) as c,
                c.stream("POST", "https://api.openai.com/v1/chat/completions", json=request(500)) as resp,
            ):
                result["status"] = resp.status_code
                for _ in resp.iter_bytes():
                    pass
        except httpx.HTTPError as exc:
            result["error"] = exc

    worker = threading.Thread(target=stream)
    worker.start()
    assert wait_for(lambda: result.get("status") == 200)
    # The worst case is held while the stream runs; the file gets a hold once it is a second old.
    assert wait_for(lambda: budget_status(proxy)[0]["reserved_usd"] > 0, timeout=5)
    readyz = f"http://127.0.0.1:{proxy.metrics_port}/readyz"
    proxy.process.send_signal(signal.SIGTERM)
    draining = wait_for(lambda: (r := http_get(readyz))[0] == 503 and r, timeout=1.5, step=0.05)
    assert draining and "draining" in draining[1]
    assert proxy.process.wait(20) == 0
    worker.join(20)
    status = budget_status(proxy)[0]
    assert status["reserved_usd"] == 0, status  # released by the budget stage's done hook
    record = proxy.records()[-1]
    assert record["url"] == "https://api.openai.com/v1/chat/completions"
    assert any(r["rule"] == "shutdown" for r in record["reasons"]) or record["decision"] == "error"
