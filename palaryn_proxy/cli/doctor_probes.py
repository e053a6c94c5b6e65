"""The runtimes `palaryn-proxy doctor` looks for, and how each sends one probe request through the proxy.

Every probe runs as a child process with the agent environment and prints the response's
`x-palaryn-request-id` (and status) somewhere in its output: that header proves the request went through the
proxy and that the runtime trusted the proxy's CA.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REQUEST_ID = re.compile(r"x-palaryn-request-id:\s*(req_[0-9a-f]+)", re.IGNORECASE)
STATUS = re.compile(r"(?:HTTP/[0-9.]+ |status: )(\d{3})", re.IGNORECASE)  # the last one is the answer's

PYTHON_REQUESTS = """
import sys, requests
r = requests.get(sys.argv[1], timeout=float(sys.argv[2]))
print(f"status: {r.status_code}\\nx-palaryn-request-id: {r.headers.get('x-palaryn-request-id', '')}")
"""
PYTHON_HTTPX = """
import sys, httpx
r = httpx.get(sys.argv[1], timeout=float(sys.argv[2]))
print(f"status: {r.status_code}\\nx-palaryn-request-id: {r.headers.get('x-palaryn-request-id', '')}")
"""
# Node <= 22 ignores HTTPS_PROXY in fetch/https: CONNECT by hand, then TLS with Node's own trust store
# (its built-in roots plus NODE_EXTRA_CA_CERTS), exactly what an agent configured by hand would do.
NODE = r"""
const [url, seconds] = process.argv.slice(1);
const http = require("http"), tls = require("tls");
const fail = (e) => { console.error(String((e && e.message) || e)); process.exit(1); };
setTimeout(() => fail("timed out"), Number(seconds) * 1000).unref();
const raw = process.env.HTTPS_PROXY || process.env.https_proxy;
if (!raw) fail("HTTPS_PROXY is not set");
const u = new URL(url), p = new URL(raw), port = u.port || 443;
const headers = { Host: `${u.hostname}:${port}` };
if (p.username) headers["Proxy-Authorization"] = "Basic " + Buffer.from(
  decodeURIComponent(p.username) + ":" + decodeURIComponent(p.password)).toString("base64");
http.request({ host: p.hostname, port: p.port || 80, method: "CONNECT", path: `${u.hostname}:${port}`, headers })
  .on("connect", (res, socket) => {
    if (res.statusCode !== 200) fail(`the proxy answered CONNECT with ${res.statusCode}`);
    const s = tls.connect({ socket, servername: u.hostname }, () =>
      s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
    let head = "";
    s.on("data", (d) => { head += d; const end = head.indexOf("\r\n\r\n");
      if (end >= 0) { console.log(head.slice(0, end)); process.exit(0); } });
    s.on("error", fail);
  }).on("error", fail).end();
"""
GO = """package main

import (
\t"fmt"
\t"net/http"
\t"os"
\t"time"
)

func main() {
\tc := &http.Client{Timeout: 30 * time.Second}
\tr, err := c.Get(os.Args[1])
\tif err != nil {
\t\tfmt.Fprintln(os.Stderr, err)
\t\tos.Exit(1)
\t}
\tfmt.Printf("status: %d\\nx-palaryn-request-id: %s\\n", r.StatusCode, r.Header.Get("X-Palaryn-Request-Id"))
}
"""


@dataclass(frozen=True)
class Probe:
    name: str
    command: Callable[[str, float, Path], list[str]]  # (url, timeout, scratch dir) -> argv
    available: Callable[[], str | None]  # what was found (a path or module), or None when absent
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_seconds: float = 0.0  # compile time (go run)
    note: str = ""


@dataclass(frozen=True)
class ProbeResult:
    name: str
    found: str | None
    ok: bool
    request_id: str = ""
    status: str = ""
    detail: str = ""


def _which(tool: str) -> Callable[[], str | None]:
    return lambda: shutil.which(tool)


def _module(name: str) -> Callable[[], str | None]:
    return lambda: f"{sys.executable} ({name})" if importlib.util.find_spec(name) is not None else None


def _go_command(url: str, timeout: float, scratch: Path) -> list[str]:
    source = scratch / "probe.go"
    source.write_text(GO)
    return [str(shutil.which("go")), "run", str(source), url]


PROBES = (
    Probe(
        "curl",
        lambda url, t, _: [str(shutil.which("curl")), "-sS", "-o", "/dev/null", "-D", "-", "-m", str(t), url],
        _which("curl"),
    ),
    Probe(
        "python requests",
        lambda url, t, _: [sys.executable, "-c", PYTHON_REQUESTS, url, str(t)],
        _module("requests"),
    ),
    Probe(
        "python httpx", lambda url, t, _: [sys.executable, "-c", PYTHON_HTTPX, url, str(t)], _module("httpx")
    ),
    Probe(
        "node",
        lambda url, t, _: [str(shutil.which("node")), "-e", NODE, url, str(t)],
        _which("node"),
        note="built-in fetch ignores HTTPS_PROXY before Node 24 (NODE_USE_ENV_PROXY=1 there, else undici's "
        "EnvHttpProxyAgent)",
    ),
    Probe(
        "git",
        lambda url, t, _: [str(shutil.which("git")), "ls-remote", url],
        _which("git"),
        extra_env=(("GIT_TRACE_CURL", "1"), ("GIT_TRACE_CURL_NO_DATA", "1"), ("GIT_TERMINAL_PROMPT", "0")),
    ),
    Probe("go", _go_command, _which("go"), extra_env=(("GOTOOLCHAIN", "local"),), extra_seconds=90),
)


def run_probe(probe: Probe, url: str, timeout: float, env: dict[str, str], scratch: Path) -> ProbeResult:
    """Send the probe; ok when the answer carries X-Palaryn-Request-Id (any HTTP status)."""
    found = probe.available()
    if found is None:
        return ProbeResult(probe.name, None, False, detail="not found")
    workdir = scratch / probe.name.replace(" ", "-")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run(
            probe.command(url, timeout, workdir),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout + probe.extra_seconds + 5,
            env={**env, **dict(probe.extra_env)},
            cwd=workdir,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(probe.name, found, False, detail=f"no answer within {timeout:g}s")
    text = out.stdout + "\n" + out.stderr
    request_id, statuses = REQUEST_ID.search(text), STATUS.findall(text)
    if request_id is None:
        return ProbeResult(probe.name, found, False, detail=_why(out))
    return ProbeResult(probe.name, found, True, request_id.group(1), statuses[-1] if statuses else "")


def _why(out: subprocess.CompletedProcess[str]) -> str:
    """The client's own error line (git's `fatal:` after its trace, curl's `curl: (60) ...`)."""
    lines = [line.strip() for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("fatal", "error", "curl:"))]
    why = (errors or lines or [f"exit code {out.returncode}, no X-Palaryn-Request-Id in the answer"])[-1]
    return why[:300]
