"""End-to-end harness: start real palaryn-proxy processes against the fake upstream, drive real clients."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.upstream import TEST_HOSTS, Upstream, free_port

BIN = Path(sys.executable).parent / "palaryn-proxy"


@dataclass
class Proxy:
    port: int
    metrics_port: int
    workdir: Path
    config_path: Path
    audit_path: Path
    certs_dir: Path
    process: subprocess.Popen[str]
    banner: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.certs_dir / "mitmproxy-ca-cert.pem"

    def records(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]

    def wait_records(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll until at least `count` audit records are on disk (the writer flushes in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def next_record(self, before: int, timeout: float = 10.0) -> dict[str, Any]:
        """The first record written after `before` records existed (for clients that hide headers)."""
        records = self.wait_records(before + 1, timeout)
        assert len(records) > before, "no new audit record"
        return records[before]

    def record_for(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.records():
                if rec["request_id"] == request_id:
                    return rec
            time.sleep(0.05)
        raise AssertionError(f"no audit record for {request_id}")

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or base_env(),
            cwd=self.workdir,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def base_env() -> dict[str, str]:
    """A clean environment with no proxy or CA variables inherited from the machine."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: os.environ[k] for k in keep if k in os.environ}


def parse_exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def write_config(path: Path, upstream: Upstream, extra: dict[str, Any]) -> dict[str, Any]:
    # Every test host resolves to the fake upstream; plain-HTTP hosts to its HTTP port.
    overrides = {h: f"127.0.0.1:{upstream.https_port}" for h in TEST_HOSTS if not h.startswith("*")}
    overrides.update(
        {
            "plain.test": f"127.0.0.1:{upstream.http_port}",
            "ollama.test": f"127.0.0.1:{upstream.http_port}",
            "vllm.test": f"127.0.0.1:{upstream.http_port}",
            "reset.test": f"127.0.0.1:{upstream.reset_port}",
            "hang.test": f"127.0.0.1:{upstream.hang_port}",
        }
    )
    config: dict[str, Any] = {
        "upstream_ca_bundle": str(upstream.ca),
        "resolve_overrides": overrides,
        "block_domains": ["blocked.test", "*.blocked.test"],
        "ssrf": {"allow": ["127.0.0.1/32"]},  # the fake upstreams live on loopback
        "log_level": "info",
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))
    return config


class PortTaken(RuntimeError):
    """A port free_port() handed out was taken by another process before the proxy bound it."""


def start_proxy(
    workdir: Path,
    upstream: Upstream,
    certs: Path,
    extra: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
) -> Proxy:
    """A running proxy; free ports are picked again when one was taken in between (a race with other
    processes' ephemeral ports, more likely the more the suite runs at once)."""
    for _ in range(3):
        try:
            return _start_proxy(workdir, upstream, certs, extra, args)
        except PortTaken:
            continue
    return _start_proxy(workdir, upstream, certs, extra, args)


def _start_proxy(
    workdir: Path,
    upstream: Upstream,
    certs: Path,
    extra: dict[str, Any] | None,
    args: tuple[str, ...],
) -> Proxy:
    workdir.mkdir(parents=True, exist_ok=True)
    port, metrics_port = free_port(), free_port()
    config_path = workdir / "palaryn.yaml"
    # The file says everything (so `env --config` describes this proxy); the flags repeat it, as users do.
    base = {
        "listen": f"127.0.0.1:{port}",
        "certs_dir": str(certs),
        "audit_log": str(workdir / "audit.jsonl"),
        "metrics_listen": f"127.0.0.1:{metrics_port}",
        "storage": {"url": f"sqlite:///{workdir / 'palaryn.db'}"},
    }
    write_config(config_path, upstream, {**base, **(extra or {})})
    flags = [
        "--config",
        str(config_path),
        "--listen",
        f"127.0.0.1:{port}",
        "--certs-dir",
        str(certs),
        "--audit-log",
        str(workdir / "audit.jsonl"),
        "--metrics-listen",
        f"127.0.0.1:{metrics_port}",
    ]
    stderr = (workdir / "proxy.stderr").open("w")
    proc = subprocess.Popen(
        [str(BIN), "run", *flags, *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=base_env(),
        cwd=workdir,
    )
    banner_lines = []
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner_lines.append(line)
        if "GIT_SSL_CAINFO" in line:  # the banner's last line: listeners are up
            break
    banner = "".join(banner_lines)
    if "listening on" not in banner:
        proc.kill()
        proc.wait()
        stderr_text = (workdir / "proxy.stderr").read_text()
        if "address already in use" in (banner + stderr_text).lower():
            raise PortTaken(f"proxy could not bind its ports:\n{banner}\n{stderr_text}")
        raise RuntimeError(f"proxy did not start:\n{banner}\n{stderr_text}")
    proxy = Proxy(port, metrics_port, workdir, config_path, workdir / "audit.jsonl", certs, proc, banner)
    env_out = subprocess.run(
        [str(BIN), "env", "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=True,
        env=base_env(),
        cwd=workdir,
    )
    proxy.env = parse_exports(env_out.stdout)
    return proxy


def curl(env: dict[str, str], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """Run the real curl with only the agent environment."""
    return subprocess.run(
        ["curl", "-sS", *args], capture_output=True, timeout=timeout, env={**base_env(), **env}
    )
