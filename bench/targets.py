"""The proxies under test: (b) bare mitmdump with the same options, and (c) palaryn-proxy with every stage on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import yaml
from servers import HERE, PROXY_CPU, Processes, free_port, wait_port

VENV_BIN = Path(sys.executable).parent
REPO = HERE.parent
ACTOR, TOKEN = "bench-agent", "bench-token-0123456789"


@dataclass
class Target:
    """One path the load goes through: `proxy` is None for (a) direct."""

    key: str
    label: str
    proxy: str | None = None  # http://[user:pass@]127.0.0.1:PORT
    proc: subprocess.Popen[bytes] | None = None
    auth: tuple[str, str] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # USER_HZ


def trust_bundle(workdir: Path, test_ca: Path) -> Path:
    """certifi plus the test CA: what palaryn-proxy builds from upstream_ca_bundle, given to mitmdump too."""
    path = workdir / "upstream-trust.pem"
    path.write_text(Path(certifi.where()).read_text() + "\n" + test_ca.read_text())
    return path


def start_mitmdump(procs: Processes, workdir: Path, certs: Path, trust: Path, stream_sse: bool) -> Target:
    """(b): mitmdump's default addons, no script (or only the SSE streaming switch), lazy connections."""
    port = free_port()
    argv = [
        str(VENV_BIN / "mitmdump"),
        "-q",
        "--listen-host", "127.0.0.1",
        "-p", str(port),
        "--set", f"confdir={certs}",
        "--set", "connection_strategy=lazy",
        "--set", f"ssl_verify_upstream_trusted_ca={trust}",
        "--set", "flow_detail=0",
    ]  # fmt: skip
    if stream_sse:
        argv += ["-s", str(HERE / "mitm_stream_sse.py")]
    name = "mitmdump-stream" if stream_sse else "mitmdump"
    proc = procs.start(name, argv, PROXY_CPU, workdir / f"{name}.log")
    wait_port(port, proc, name)
    key, label = ("b_stream", "(b) mitmdump + SSE streaming") if stream_sse else ("b", "(b) bare mitmdump")
    return Target(key, label, f"http://127.0.0.1:{port}", proc)


def hash_token(token: str) -> str:
    out = subprocess.run(
        [str(VENV_BIN / "palaryn-proxy"), "hash-token", token], capture_output=True, text=True
    )
    return out.stdout.strip()


def palaryn_config(workdir: Path, certs: Path, test_ca: Path, llm_ports: list[int]) -> dict[str, Any]:
    """A realistic production config with every stage on; limits are far above what the bench spends."""
    llm_hosts = [f"127.0.0.1:{p}" for p in llm_ports]
    return {
        "listen": f"127.0.0.1:{free_port()}",
        "certs_dir": str(certs),
        "audit_log": str(workdir / "audit.jsonl"),
        "metrics_listen": f"127.0.0.1:{free_port()}",
        "log_level": "warning",
        "upstream_ca_bundle": str(test_ca),
        "block_domains": [
            "pastebin.com",
            "*.pastebin.com",
            "*.ngrok.io",
            "*.ngrok-free.app",
            "transfer.sh",
            "*.requestbin.net",
            "webhook.site",
            "*.trycloudflare.com",
            "file.io",
        ],  # fmt: skip
        "identity": {
            "require_auth": True,
            "default_workspace": "default",
            "actors": {
                ACTOR: {"workspace": "research-bench", "tokens": [hash_token(TOKEN)]},
                "ci-agent": {"workspace": "ci", "tokens": [hash_token("ci-token-abcdefabcdef")]},
            },
        },
        "providers": {"openai": {"hosts": llm_hosts}},
        "storage": {"url": f"sqlite:///{workdir / 'palaryn.db'}"},
        "budgets": [
            {
                "name": "team-daily",
                "scope": "workspace",
                "match": "research-*",
                "period": "day",
                "limit_usd": 100000,
                "warn_at": 0.8,
            },
            {
                "name": "per-agent",
                "scope": "actor",
                "period": "hour",
                "limit_usd": 50000,
                "limit_tokens": 10_000_000_000,
            },
            {"name": "org-month", "scope": "global", "period": "month", "limit_usd": 1000000},
        ],  # fmt: skip
        "per_request_max_usd": 1.5,
        "rate_limits": [
            {
                "name": "agent-rpm",
                "scope": "actor",
                "requests_per_minute": 10_000_000,
                "tokens_per_minute": 100_000_000_000,
            },
            {"name": "host-rpm", "scope": "host", "requests_per_minute": 10_000_000},
        ],  # fmt: skip
        "ssrf": {"allow": ["127.0.0.1"]},
        "dlp": {"actions": {"secrets": "redact", "pii": "log"}},
        "injection": {"action": "flag"},
        "policy_packs": [str(HERE / "bench-pack.yaml")],
        "anomaly": {"enabled": True, "actions": {}},
    }


def write_palaryn_config(workdir: Path, config: dict[str, Any]) -> Path:
    path = workdir / "palaryn.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    check = subprocess.run(
        [str(VENV_BIN / "palaryn-proxy"), "config", "check", str(path)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"bench: palaryn config rejected:\n{check.stdout}{check.stderr}")
    return path


def start_palaryn(
    procs: Processes,
    workdir: Path,
    config: dict[str, Any],
    tree: Path | None = None,
    key: str | None = None,
    label: str | None = None,
) -> Target:
    """(c): `palaryn-proxy run` with the bench config on the proxy core; with `tree`, (c′): the same
    config run from a patched copy of the package (a folder holding palaryn_proxy/, addons inside it);
    `key` and `label` name another variant (another config)."""
    key = key or ("c" if tree is None else "c2")
    home = workdir / key
    home.mkdir(exist_ok=True)
    config = {**config, "listen": f"127.0.0.1:{free_port()}", "metrics_listen": f"127.0.0.1:{free_port()}",
              "audit_log": str(home / "audit.jsonl"), "storage": {"url": f"sqlite:///{home / 'palaryn.db'}"}}  # fmt: skip
    config_path = home / "palaryn.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    argv = [str(VENV_BIN / "palaryn-proxy"), "run", "--config", str(config_path), "--quiet"]
    proc = procs.start(key, argv, PROXY_CPU, home / "palaryn.log", cwd=home, env=env)
    port = int(config["listen"].rsplit(":", 1)[1])
    wait_port(port, proc, "palaryn-proxy")
    label = label or ("(c) palaryn-proxy" if tree is None else f"(c′) palaryn-proxy from {tree}")
    return Target(key, label, f"http://{ACTOR}:{TOKEN}@127.0.0.1:{port}", proc, (ACTOR, TOKEN))


_STAGES_SCRIPT = """
import asyncio, json, sys
from palaryn_proxy.config import load_config
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.addons import pipeline
rt = Runtime.build(load_config(sys.argv[1]), open_audit=False)
try:
    print(json.dumps([type(s).__name__ for s in pipeline(rt)]))
finally:
    asyncio.run(rt.aclose())
"""


def active_stages(config_path: Path) -> list[str]:
    """The stage classes pipeline() builds for this config (what (c) actually runs)."""
    out = subprocess.run(
        [sys.executable, "-c", _STAGES_SCRIPT, str(config_path)], capture_output=True, text=True, cwd=REPO
    )
    if out.returncode == 0:
        return [re.sub(r"Stage$", "", name).lower() for name in json.loads(out.stdout)]
    return re.findall(r"(\w+)Stage\(", (REPO / "addons" / "__init__.py").read_text())
