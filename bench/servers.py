"""Processes of a benchmark run: the nginx and SSE upstreams, pinned to a core, stopped when the run ends."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from payloads import chat_response

HERE = Path(__file__).resolve().parent
LOAD_CPU, PROXY_CPU = "0", "1"  # upstreams + load generator on core 0, the proxy under test on core 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


@dataclass
class Processes:
    """Every process the run started; stop() ends them by pid (SIGTERM, then SIGKILL)."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], cpu: str, log: Path, **kw: object) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
        self.procs.append((name, proc))
        return proc

    def stop_one(self, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop_one(proc)
        self.procs.clear()


def require_tools() -> None:
    """nginx, hey and taskset must be on the PATH; as root on Debian, install the missing ones."""
    missing = [tool for tool in ("nginx", "hey", "taskset") if shutil.which(tool) is None]
    packages = {"nginx": "nginx-light", "hey": "hey", "taskset": "util-linux"}
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"bench: installing {', '.join(missing)} with apt-get", file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *[packages[m] for m in missing]],
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        missing = [tool for tool in missing if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"bench: missing {', '.join(missing)}; install them (Debian: apt-get install nginx-light hey)"
        )


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_max_body_size 4m;
  client_body_buffer_size 2m;
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location = /v1/chat/completions {{ default_type application/json; return 200 '{chat}'; }}
    location = /upload {{ default_type application/json; return 200 '{{"ok":true}}'; }}
  }}
}}
"""


def start_nginx(procs: Processes, workdir: Path, cert: Path, key: Path) -> int:
    """nginx with one worker on LOAD_CPU: the chat endpoint (1 KB JSON) and /upload (any body)."""
    ngx = workdir / "nginx"
    ngx.mkdir(parents=True, exist_ok=True)
    port = free_port()
    chat = chat_response().decode()
    assert "'" not in chat and "$" not in chat
    conf = NGINX_CONF.format(dir=ngx, port=port, cert=cert, key=key, chat=chat)
    (ngx / "nginx.conf").write_text(conf)
    proc = procs.start(
        "nginx", ["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf")], LOAD_CPU, ngx / "nginx.log"
    )
    wait_port(port, proc, "nginx")
    return port


def start_sse_server(procs: Processes, workdir: Path, cert: Path, key: Path) -> int:
    port = free_port()
    argv = [sys.executable, str(HERE / "sse_server.py"), str(port), str(cert), str(key)]
    proc = procs.start("sse-upstream", argv, LOAD_CPU, workdir / "sse_server.log")
    wait_port(port, proc, "sse upstream")
    return port
