"""Fixtures: a real redis-server on a free port, and one `Storage` per backend for the contract suite."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from e2e.redisproc import REDIS_SERVER, RedisProcess, free_port
from palaryn_proxy.storage import Storage, open_storage


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
    if backend == "sqlite":  # every call its own transaction: processes share the file strictly
        return f"sqlite://{tmp_path}/state/palaryn.db?write_behind_ms=0"
    if backend == "sqlite-mirror":  # the proxy's default: decided in memory, written behind
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
        metafunc.parametrize("store_url", ["memory", "sqlite", "sqlite-mirror", "redis"], indirect=True)
