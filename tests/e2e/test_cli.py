"""The CLI against a real proxy: audit verify/tail, exec, env, ca, config check, passthrough, shutdown."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx

from e2e.harness import BIN, base_env, curl


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env or base_env()
    )


def test_audit_verify_detects_edit_and_deletion(proxy, agent_env, tmp_path):
    with httpx.Client(timeout=20) as client:
        for i in range(4):
            client.get(f"https://upstream.test/echo?i={i}")
    records = proxy.wait_records(4)
    assert len(records) >= 4
    ok = run_cli("audit", "verify", str(proxy.audit_path))
    assert ok.returncode == 0, ok.stderr
    assert "chain intact" in ok.stdout

    lines = proxy.audit_path.read_text().splitlines()
    edited = tmp_path / "edited.jsonl"
    altered = json.loads(lines[1])
    altered["status"] = 201
    edited.write_text("\n".join([lines[0], json.dumps(altered), *lines[2:]]) + "\n")
    bad = run_cli("audit", "verify", str(edited))
    assert bad.returncode == 1
    assert f"{edited}:2" in bad.stderr and "altered" in bad.stderr

    deleted = tmp_path / "deleted.jsonl"
    deleted.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    gone = run_cli("audit", "verify", str(deleted))
    assert gone.returncode == 1
    assert f"{deleted}:2" in gone.stderr and "removed" in gone.stderr


def test_audit_tail_filters(proxy, agent_env):
    curl(agent_env, "-o", "/dev/null", "https://blocked.test/x")
    proxy.wait_records(1)
    time.sleep(0.2)
    out = run_cli("audit", "tail", "--audit-log", str(proxy.audit_path), "--decision", "deny", "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and all(r["decision"] == "deny" for r in rows)


def test_exec_runs_child_through_proxy_and_returns_its_exit_code(proxy):
    flags = ["--config", str(proxy.config_path), "--certs-dir", str(proxy.certs_dir)]
    out = run_cli(
        "exec",
        *flags,
        "--actor",
        "exec-agent",
        "--",
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://upstream.test/echo?via=exec",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "200"
    records = proxy.wait_records(1)
    assert any(
        r["actor"] == "exec-agent" and "via=exec" in r["url"] for r in proxy.wait_records(len(records))
    )
    node = run_cli("exec", *flags, "--", "sh", "-c", "printf %s $NODE_USE_ENV_PROXY")
    assert node.stdout == "1"  # Node >= 24's fetch follows the proxy variables only with it
    failing = run_cli("exec", *flags, "--", "sh", "-c", "exit 7")
    assert failing.returncode == 7


def test_env_prints_every_variable(proxy):
    out = run_cli("env", "--config", str(proxy.config_path), "--certs-dir", str(proxy.certs_dir))
    names = {line.split("=", 1)[0].removeprefix("export ") for line in out.stdout.splitlines()}
    assert {
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "NODE_USE_ENV_PROXY",
    } <= names
    assert "export NODE_USE_ENV_PROXY=1" in out.stdout
    assert f"127.0.0.1:{proxy.port}" in out.stdout
    assert "HTTPS_PROXY" in proxy.banner and str(proxy.ca_file) in proxy.banner


def test_ca_commands(tmp_path):
    certs = tmp_path / "certs"
    path = run_cli("ca", "path", "--certs-dir", str(certs))
    assert path.returncode == 0
    assert Path(path.stdout.strip()) == (certs / "mitmproxy-ca-cert.pem").resolve()
    assert stat.S_IMODE((certs / "mitmproxy-ca.pem").stat().st_mode) == 0o600
    exported = run_cli("ca", "export", "--certs-dir", str(certs))
    assert exported.stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in exported.stdout
    again = run_cli("ca", "init", "--certs-dir", str(certs))
    assert again.stdout.startswith("exists:")


def test_config_check_names_key_and_line(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("listen: 127.0.0.1:9000\nblock_domains: [evil.example]\n")
    assert run_cli("config", "check", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 127.0.0.1:9000\n\nblock_domain: [evil.example]\n")
    out = run_cli("config", "check", str(bad))
    assert out.returncode == 1
    assert "bad.yaml:3" in out.stderr and "block_domain" in out.stderr and "block_domains" in out.stderr
    typed = tmp_path / "typed.yaml"
    typed.write_text("upstream_timeout: soon\n")
    out = run_cli("config", "check", str(typed))
    assert out.returncode == 1 and "typed.yaml:1" in out.stderr and "upstream_timeout" in out.stderr


def test_passthrough_host_is_tunnelled_and_audited(proxy_factory, upstream):
    proxy = proxy_factory({"passthrough_hosts": ["upstream.test"]})
    env = {**proxy.env, "CURL_CA_BUNDLE": str(upstream.ca)}  # the client sees the upstream's own certificate
    out = curl(env, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo")
    assert out.stdout == b"200", out.stderr
    record = proxy.wait_records(1)[-1]
    assert record["kind"] == "passthrough" and record["host"] == "upstream.test"
    assert record["reasons"][0]["rule"] == "passthrough_hosts:upstream.test"


def test_sigterm_lets_inflight_request_finish_and_flushes_audit(proxy_factory):
    proxy = proxy_factory()
    result: dict[str, object] = {}

    def slow_request() -> None:
        out = curl(proxy.env, "https://upstream.test/sse?n=5&delay=0.3")
        result["out"] = out

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)
    proxy.process.send_signal(signal.SIGTERM)
    worker.join(20)
    assert proxy.process.wait(20) == 0
    out = result["out"]
    assert out.returncode == 0 and out.stdout.endswith(b"data: [DONE]\n\n")  # type: ignore[union-attr]
    records = proxy.records()
    assert records and records[-1]["url"].endswith("/sse?n=5&delay=0.3") and records[-1]["status"] == 200
    assert run_cli("audit", "verify", str(proxy.audit_path)).returncode == 0
    refused = curl(proxy.env, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo")
    assert refused.returncode != 0  # the listener is gone


def test_unwritable_config_errors_are_clear(tmp_path):
    out = run_cli("run", "--config", str(tmp_path / "missing.yaml"))
    assert out.returncode == 1 and "cannot read config file" in out.stderr
    assert os.path.exists(BIN)
