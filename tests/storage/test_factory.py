"""URL selection, storage config parsing and the Decimal <-> nano-dollar boundary."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.storage import (
    Storage,
    StorageConfig,
    nanos_to_usd,
    open_storage,
    parse_storage_config,
    redact_url,
    usd_to_nanos,
)
from palaryn_proxy.storage.backend_memory import MemoryStorage
from palaryn_proxy.storage.backend_redis import RedisStorage
from palaryn_proxy.storage.backend_sqlite import SqliteStorage
from palaryn_proxy.storage.backend_sqlite_mirror import MirroredSqliteStorage
from palaryn_proxy.storage.base import ROUND_DOWN, ROUND_UP


async def test_url_picks_backend(tmp_path: Path) -> None:
    chosen = [
        open_storage("memory://"),
        open_storage(f"sqlite://{tmp_path}/a/b.db"),
        open_storage(f"sqlite://{tmp_path}/a/b.db?write_behind_ms=0"),
        open_storage(f"sqlite://{tmp_path}/a/b.db", write_behind=False),
        open_storage("redis://127.0.0.1:1/0"),
    ]
    kinds = [MemoryStorage, MirroredSqliteStorage, SqliteStorage, SqliteStorage, RedisStorage]
    assert [type(s) for s in chosen] == kinds
    assert all(isinstance(s, Storage) for s in chosen)
    assert (tmp_path / "a" / "b.db").exists()
    for s in chosen:
        await s.close()


@pytest.mark.parametrize("url", ["postgres://x", "sqlite://", "memory", ""])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="storage.url"):
        open_storage(url)


def test_parse_storage_config_defaults_and_fail_mode() -> None:
    assert parse_storage_config({}) == StorageConfig()
    assert not parse_storage_config({}).fail_open
    cfg = parse_storage_config(
        {"storage": {"url": "redis://h:6379/1", "key_prefix": "p:"}, "fail_mode": "open"}
    )
    assert cfg == StorageConfig("redis://h:6379/1", "p:", True)
    assert parse_storage_config({"storage": {"fail_open": True}}).fail_open


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"fail_mode": "sometimes"}, "fail_mode"),
        ({"storage": {"url": "ftp://x"}}, "storage.url"),
        ({"storage": {"uri": "memory://"}}, "storage.uri"),
        ({"storage": {"fail_open": "yes"}}, "storage.fail_open"),
        ({"storage": {"key_prefix": 3}}, "storage.key_prefix"),
        ({"storage": {"fail_open": True}, "fail_mode": "closed"}, "storage.fail_open"),
        ({"storage": "memory://"}, "storage"),
        ({"storage": {"url": "sqlite:///x.db?write_behind_ms=soon"}}, "storage.url"),
        ({"storage": {"url": "sqlite:///x.db?write_behind_ms=-1"}}, "storage.url"),
        ({"storage": {"url": "sqlite:///x.db?synchronous=extra"}}, "storage.url"),
    ],
)
def test_parse_storage_config_names_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_storage_config(raw)


def test_redis_password_is_redacted() -> None:
    assert redact_url("redis://user:pw@host:6379/0") == "redis://***@host:6379/0"
    assert "pw" not in repr(StorageConfig(url="redis://:pw@h/0"))
    assert redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_money_boundary_is_exact_and_rounds_the_safe_way() -> None:
    assert usd_to_nanos(Decimal("1.5")) == 1_500_000_000
    assert nanos_to_usd(usd_to_nanos(Decimal("0.000000123"))) == Decimal("0.000000123")
    tiny = Decimal("0.0000000001")
    assert usd_to_nanos(tiny, ROUND_UP) == 1
    assert usd_to_nanos(tiny, ROUND_DOWN) == 0
    assert usd_to_nanos(Decimal("0.0000000015")) == 2  # half-even
    with pytest.raises(ValueError, match="too large"):
        usd_to_nanos(Decimal("10000000"))
