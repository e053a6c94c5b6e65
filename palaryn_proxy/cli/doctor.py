"""`palaryn-proxy doctor`: is the proxy reachable, is its CA valid, does every runtime here get through it,
and which TLS handshakes did clients refuse (with the `passthrough_hosts` line that fixes them)."""

from __future__ import annotations

import datetime
import json
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from cryptography import x509

from palaryn_proxy.cli.doctor_probes import PROBES, ProbeResult, run_probe
from palaryn_proxy.config import Config
from palaryn_proxy.hostmatch import HostMatcher
from palaryn_proxy.tls import agentenv, ca

DEFAULT_PROBE_URL = "https://api.openai.com/v1/models"
CA_WARN_DAYS = 30
INHERITED = (  # never leak the caller's own proxy or trust settings into the probes
    *("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"),
    *("https_proxy", "http_proxy", "all_proxy", "no_proxy"),
    *agentenv.CA_VARIABLES,
    "SSL_CERT_DIR",
)


@dataclass
class Check:
    name: str
    status: str  # ok, fail, warn, skip
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    tls_failures: list[dict[str, Any]] = field(default_factory=list)
    passthrough_line: str = ""

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)


def _local(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    return ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host), int(port)


def check_proxy(config: Config) -> Check:
    address = _local(config.listen)
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as exc:
        return Check(
            "proxy", "fail", f"nothing answers on {config.listen}: {exc.strerror or exc} (is it running?)"
        )
    return Check("proxy", "ok", f"reachable on {config.listen}")


def check_ca(config: Config) -> Check:
    path = ca.cert_path(config.certs_dir).resolve()
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return Check(
            "CA", "fail", f"no CA certificate at {path} (`palaryn-proxy ca init`, or check certs_dir)"
        )
    except (OSError, ValueError) as exc:
        return Check("CA", "fail", f"{path} is not a readable PEM certificate: {exc}")
    now = datetime.datetime.now(datetime.UTC)
    until = cert.not_valid_after_utc
    subject = cert.subject.rfc4514_string()
    if now < cert.not_valid_before_utc:
        return Check(
            "CA", "fail", f"{path} ({subject}) is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
        )
    if now >= until:
        return Check(
            "CA", "fail", f"{path} ({subject}) expired on {until:%Y-%m-%d}: delete certs_dir's CA files"
        )
    left = (until - now).days
    detail = f"{path} ({subject}), valid until {until:%Y-%m-%d} ({left} days left)"
    return Check("CA", "warn" if left < CA_WARN_DAYS else "ok", detail)


def _get(url: str, timeout: float = 3) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the listener
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_metrics(config: Config, report: Report) -> None:
    """/readyz and the TLS handshakes clients refused, from the running proxy's metrics listener."""
    if config.metrics_listen in ("off", ""):
        report.checks.append(Check("readiness", "skip", "metrics_listen is off: refused handshakes unknown"))
        return
    host, port = _local(config.metrics_listen)
    base = f"http://{host}:{port}"
    try:
        status, body = _get(base + "/readyz")
        report.checks.append(
            Check("readiness", "ok" if status == 200 else "fail", f"{base}/readyz: {body.decode().strip()}")
        )
        status, body = _get(base + "/tls-failures")
    except OSError as exc:
        report.checks.append(Check("readiness", "fail", f"metrics listener {base} unreachable: {exc}"))
        return
    if status == 200:
        report.tls_failures = json.loads(body).get("failures", [])


def probe_env(config: Config, actor: str | None, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    return {**env, **agentenv.agent_environment(config, actor, token)}


def _probe_check(result: ProbeResult, url: str) -> Check:
    if result.found is None:
        return Check(result.name, "skip", "not found on this machine")
    if result.ok:
        status = f" -> HTTP {result.status}" if result.status else ""
        return Check(
            result.name, "ok", f"{url}{status} through the proxy ({result.request_id}) [{result.found}]"
        )
    return Check(result.name, "fail", f"{result.detail} [{result.found}]")


def run_probes(
    config: Config, report: Report, url: str, timeout: float, actor: str | None, token: str | None
) -> None:
    env = probe_env(config, actor, token)
    with (
        tempfile.TemporaryDirectory(prefix="palaryn-doctor-") as scratch,
        ThreadPoolExecutor(len(PROBES)) as pool,
    ):
        results = list(pool.map(lambda p: run_probe(p, url, timeout, env, Path(scratch)), PROBES))
    for probe, result in zip(PROBES, results, strict=True):
        check = _probe_check(result, url)
        if probe.note and check.status != "skip":
            check.detail += f"; note: {probe.note}"
        report.checks.append(check)


def suggest_passthrough(config: Config, failures: list[dict[str, Any]]) -> str:
    """The config line that tunnels the refusing hosts without interception."""
    already = HostMatcher(config.passthrough_hosts)
    hosts = [f["host"] for f in failures if already.match(str(f["host"])) is None and f["host"] != "(no sni)"]
    if not hosts:
        return ""
    return "passthrough_hosts: " + json.dumps([*config.passthrough_hosts, *dict.fromkeys(hosts)])


def diagnose(
    config: Config,
    url: str = DEFAULT_PROBE_URL,
    timeout: float = 15,
    actor: str | None = None,
    token: str | None = None,
) -> Report:
    report = Report()
    proxy = check_proxy(config)
    report.checks += [proxy, check_ca(config)]
    if proxy.status == "ok":
        check_metrics(config, report)
        run_probes(config, report, url, timeout, actor, token)
    else:
        report.checks.append(Check("runtimes", "skip", "the proxy is not reachable: no probe sent"))
    report.passthrough_line = suggest_passthrough(config, report.tls_failures)
    return report


def render(report: Report) -> str:
    marks = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}
    lines = [f"  {marks[c.status]}  {c.name:<16} {c.detail}" for c in report.checks]
    if report.tls_failures:
        lines.append("TLS handshakes refused by clients (certificate pinning, mutual TLS, CA not trusted):")
        for f in report.tls_failures:
            lines.append(f"  {f['host']}: {f['count']}x {f['reason']}, last {f['last_seen']}")
        if report.passthrough_line:
            lines += [
                "To tunnel them without interception (no budgets, DLP or usage for them), set:",
                f"  {report.passthrough_line}",
            ]
    else:
        lines.append("No TLS handshake refused by a client so far.")
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps({"ok": report.ok, **asdict(report)}, indent=2)


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Add `doctor` to the main CLI; it takes the usual proxy flags, so it checks the proxy `run` starts."""

    @main.command(name="doctor")
    @proxy_options
    @click.option(
        "--probe-url", default=DEFAULT_PROBE_URL, show_default=True, help="URL each runtime fetches."
    )
    @click.option("--timeout", default=15.0, show_default=True, help="Seconds each probe may take.")
    @click.option("--actor", help="Actor name for the probes' proxy URL.")
    @click.option(
        "--token", envvar="PALARYN_TOKEN", help="Proxy token for the actor (default: $PALARYN_TOKEN)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def doctor(
        probe_url: str, timeout: float, actor: str | None, token: str | None, as_json: bool, **kwargs: Any
    ) -> None:
        """Check the proxy, its CA and every runtime found here; list TLS handshakes clients refused."""
        report = diagnose(load(kwargs), probe_url, timeout, actor, token)
        click.echo(to_json(report) if as_json else render(report))
        if not report.ok:
            raise SystemExit(1)
