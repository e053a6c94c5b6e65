"""Shared fixtures: a fake HTTPS upstream with its own CA, and real palaryn-proxy processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/e2e helpers importable as `e2e.*`

from e2e.harness import BIN, Proxy, start_proxy  # noqa: E402
from e2e.redisproc import RedisProcess  # noqa: E402
from e2e.upstream import Upstream  # noqa: E402


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("upstream-pki")).start()
    yield up
    up.stop()


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProcess]:
    """A real redis-server for one test (tests may stop and restart it)."""
    server = RedisProcess(tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One proxy CA for the session (creating an RSA CA per proxy costs time)."""
    certs = tmp_path_factory.mktemp("proxy-certs")
    subprocess.run([str(BIN), "ca", "init", "--certs-dir", str(certs)], check=True, capture_output=True)
    return certs


@pytest.fixture
def proxy_factory(tmp_path: Path, upstream: Upstream, shared_certs: Path) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def factory(
        extra: dict[str, Any] | None = None, name: str = "proxy", args: tuple[str, ...] = ()
    ) -> Proxy:
        p = start_proxy(tmp_path / name, upstream, shared_certs, extra, args)
        started.append(p)
        return p

    yield factory
    for p in started:
        p.stop()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, shared_certs: Path
) -> Iterator[Proxy]:
    """A proxy with the default test config, shared by a test module."""
    p = start_proxy(tmp_path_factory.mktemp("proxy"), upstream, shared_certs)
    yield p
    p.stop()


@pytest.fixture
def agent_env(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put this test process behind `proxy` exactly as `palaryn-proxy env` says (for httpx and SDKs)."""
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in proxy.env.items():
        monkeypatch.setenv(name, value)
    return proxy.env
