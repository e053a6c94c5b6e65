"""A real PostgreSQL server for tests: initdb into a temp dir, `postgres` on a free loopback port, trust auth."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def _version(bindir: str) -> tuple[int, ...]:
    name = Path(bindir).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def find_bindir() -> str | None:
    """The newest /usr/lib/postgresql/*/bin holding `postgres`, else pg_config's, else the PATH's."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if Path(d, "postgres").is_file()]
    if found:
        return max(found, key=_version)
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        bindir = out.stdout.strip()
        if out.returncode == 0 and Path(bindir, "postgres").is_file() and Path(bindir, "initdb").is_file():
            return bindir
    postgres = shutil.which("postgres")
    if postgres and Path(postgres).resolve().with_name("initdb").is_file():
        return str(Path(postgres).resolve().parent)
    return None


def require_postgres() -> str:
    """The bin dir, or skip the test when no PostgreSQL server is installed."""
    bindir = find_bindir()
    if bindir is None:
        import pytest

        pytest.skip("no PostgreSQL server binary (CI installs it: apt-get install postgresql)")
    return bindir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresProcess:
    """A postgres child process on 127.0.0.1; as root it runs as the `postgres` user (it refuses root).

    `durable=False` (tests) turns fsync off; the benchmark passes True to measure honest writes."""

    def __init__(self, bindir: str, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = free_port()
        self.root: Path | None = None  # made by start(): a server never started leaves nothing behind
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> dict[str, object]:
        return {"user": self._user, "group": self._user, "extra_groups": []} if self._user else {}

    def start(self) -> PostgresProcess:
        """Start the server (initdb on the first start; a restart keeps the data and the port)."""
        if self.root is None:
            # Not under pytest's tmp dir: as root that is 0700 and the postgres user could not reach it.
            self.root = Path(tempfile.mkdtemp(prefix="palaryn-pg-"))
            if self._user:
                shutil.chown(self.root, self._user, self._user)
        data = self.root / "data"
        if not data.exists():
            done = subprocess.run(
                [f"{self.bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
                + ["--locale=C", "--no-sync"],
                capture_output=True,
                text=True,
                cwd=self.root,
                **self._run_as(),  # type: ignore[call-overload]
            )
            if done.returncode != 0:
                self.stop()
                raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
        args = [f"{self.bindir}/postgres", "-D", str(data), "-k", str(self.root), "-p", str(self.port)]
        args += ["-h", "127.0.0.1", "-c", "max_connections=50"]
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = (self.root / "postgres.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=self.root, **self._run_as())  # type: ignore[call-overload]
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    tail = (self.root / "postgres.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"postgres did not start on port {self.port}:\n{tail}") from None
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """Create database `name`; its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # test helper, trusted name
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self, *, remove: bool = True) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)  # fast shutdown: does not wait for clients to leave
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if remove and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
