"""Fixtures: a real redis-server on a free port, and one `Storage` per backend for the contract suite."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from palaryn_proxy.storage import Storage, open_storage

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A redis-server child process that a test can stop and start again on the same port."""

    def __init__(self, workdir: Path, *, durable: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--save", "", "--daemonize", "no", "--protected-mode", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def _require_redis() -> None:
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip(f"{REDIS_SERVER} is not installed (CI installs it with apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One redis-server shared by the session; tests isolate themselves with a unique key prefix."""
    _require_redis()
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private durable redis-server (AOF, fsync always) that the test may stop and restart."""
    _require_redis()
    server = RedisProcess(tmp_path, durable=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on (a dead Redis)."""
    return free_port()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend = request.param
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/state/palaryn.db"
    server: RedisProcess = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def store(store_url: str, prefix: str) -> AsyncIterator[Storage]:
    s = open_storage(store_url, key_prefix=prefix)
    yield s
    await s.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses `store` (or `store_url`) once per backend."""
    if "store_url" in metafunc.fixturenames:
        metafunc.parametrize("store_url", ["memory", "sqlite", "redis"], indirect=True)
