"""`palaryn-proxy doctor` against a real proxy: reachable, CA valid, runtimes probed through it, and the TLS
handshakes a client refused listed with the passthrough_hosts line that fixes them."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from e2e.harness import BIN, base_env, curl
from palaryn_proxy.cli.doctor import Check, Report, render


def doctor(proxy, *args: str) -> tuple[int, dict]:
    out = subprocess.run(
        [str(BIN), "doctor", "--config", str(proxy.config_path), "--timeout", "20", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=base_env(),
        cwd=proxy.workdir,
    )
    return out.returncode, json.loads(out.stdout)


def test_doctor_reports_proxy_ca_probes_and_refused_handshakes(proxy_factory, upstream):
    proxy = proxy_factory()
    rc, report = doctor(proxy)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["proxy"]["status"] == "ok" and f"127.0.0.1:{proxy.port}" in checks["proxy"]["detail"]
    assert checks["CA"]["status"] == "ok" and str(proxy.ca_file) in checks["CA"]["detail"]
    assert checks["readiness"]["status"] == "ok"
    assert checks["curl"]["status"] == "ok", checks["curl"]
    assert "req_" in checks["curl"]["detail"] and "HTTP 404" in checks["curl"]["detail"]
    for name in ("python requests", "python httpx"):
        assert checks[name]["status"] == "ok", checks[name]
    found = [c for c in report["checks"] if c["status"] not in ("ok", "skip")]
    assert rc == 0 and report["ok"] and not found, found
    assert report["tls_failures"] == [] and report["passthrough_line"] == ""
    probed = [r for r in proxy.records() if r["url"] == "https://api.openai.com/v1/models"]
    assert len(probed) >= 3  # curl, requests, httpx at least: real flows through the proxy

    # A client that trusts another CA (as a pinned client does) refuses the proxy's certificate.
    pinned = curl({**proxy.env, "CURL_CA_BUNDLE": str(upstream.ca)}, "https://pinned.test/x")
    assert pinned.returncode == 60, pinned.stderr
    for _ in range(50):
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.metrics_port}/tls-failures") as resp:
            if json.load(resp)["failures"]:
                break
        time.sleep(0.1)
    rc, report = doctor(proxy)
    assert rc == 0  # a refused handshake is a finding, not a broken set-up
    failure = next(f for f in report["tls_failures"] if f["host"] == "pinned.test")
    assert failure["count"] == 1 and failure["reason"] == "untrusted_certificate"
    assert report["passthrough_line"] == 'passthrough_hosts: ["pinned.test"]'
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.metrics_port}/metrics") as resp:
        metrics = resp.read().decode()
    assert 'palaryn_tls_client_failures_total{reason="untrusted_certificate"} 1.0' in metrics

    text = render(
        Report([Check(**c) for c in report["checks"]], report["tls_failures"], report["passthrough_line"])
    )
    assert "pinned.test: 1x untrusted_certificate" in text
    assert '  passthrough_hosts: ["pinned.test"]' in text


def test_doctor_fails_when_nothing_listens(tmp_path, shared_certs):
    out = subprocess.run(
        [str(BIN), "doctor", "--listen", "127.0.0.1:9", "--certs-dir", str(shared_certs)],
        capture_output=True,
        text=True,
        timeout=60,
        env=base_env(),
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "FAIL  proxy" in out.stdout and "nothing answers on 127.0.0.1:9" in out.stdout
    assert "ok    CA" in out.stdout and "skip  runtimes" in out.stdout
