"""Hostile bodies through the real proxy: a huge base64 field does not freeze other flows, and a DLP scan
past its deadline follows `dlp.on_timeout`."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time

import httpx

from e2e.harness import Proxy
from e2e.upstream import deterministic_bytes

ECHO = "https://upstream.test/echo"


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=120, trust_env=False)


def test_16_mib_base64_field_answers_while_other_flows_keep_moving(proxy_factory):
    """Once a 300 s freeze: the blob detector rescanned a long base64 run from every start position."""
    proxy = proxy_factory({})
    blob = base64.b64encode(deterministic_bytes(12 << 20)).decode()  # 16 MiB of base64, one run
    body = json.dumps({"document": blob, "note": "x" * 4000}).encode()
    outcome: dict[str, object] = {}

    def send_big() -> None:
        started = time.monotonic()
        with client(proxy) as c:
            outcome["status"] = c.post(ECHO, content=body, headers={"content-type": "application/json"})
        outcome["seconds"] = time.monotonic() - started

    big = threading.Thread(target=send_big)
    big.start()
    time.sleep(0.3)  # the big body is on its way or being scanned
    latencies = []
    with client(proxy) as c:
        while big.is_alive() and len(latencies) < 50:
            started = time.monotonic()
            assert c.get(ECHO, params={"n": len(latencies)}).status_code == 200
            latencies.append(time.monotonic() - started)
    big.join(120)
    assert not big.is_alive()
    assert outcome["status"].status_code in (200, 403)  # answered: passed (scanned prefix) or refused
    assert outcome["seconds"] < 60
    assert latencies and max(latencies) < 5, latencies  # nobody waited behind the big scan


def test_scan_past_its_deadline_is_refused_or_passed_flagged(proxy_factory):
    prose = ("The quarterly report lists revenue by region and the plan for next year. " * 30_000).encode()
    for mode, status in (("block", 403), ("pass", 200)):
        proxy = proxy_factory({"dlp": {"scan_timeout_seconds": 0.001, "on_timeout": mode}})
        with client(proxy) as c:
            resp = c.post(ECHO, content=prose, headers={"content-type": "text/plain"})
            assert resp.status_code == status
            assert c.get(ECHO).status_code == 200  # the proxy keeps serving
        record = proxy.record_for(resp.headers["x-palaryn-request-id"])
        assert any(r["rule"] == "scan_timeout" and r["stage"] == "dlp" for r in record["reasons"])
        assert record["decision"] == ("deny" if mode == "block" else "allow")
        metrics = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
        assert f'palaryn_dlp_scan_timeouts_total{{direction="request",outcome="{mode}"}} 1.0' in metrics
        proxy.stop()
