"""Pick a storage backend from its URL and parse the `storage` / `fail_mode` config keys."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.storage.base import Storage

DEFAULT_URL = "sqlite://~/.palaryn/palaryn.db"
DEFAULT_WRITE_BEHIND_MS = 20
DEFAULT_PREFIX = "palaryn:"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where state lives, and what to do when it cannot be reached (False = refuse, the default)."""

    url: str = DEFAULT_URL
    key_prefix: str = DEFAULT_PREFIX
    fail_open: bool = False

    def __repr__(self) -> str:  # the URL may carry a Redis password
        return f"StorageConfig(url={redact_url(self.url)!r}, key_prefix={self.key_prefix!r}, fail_open={self.fail_open})"


def redact_url(url: str) -> str:
    """The URL with any `user:password@` part replaced, for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def sqlite_path(url: str) -> str:
    """`sqlite://` + a filesystem path: `sqlite:///var/lib/p.db` is absolute, `sqlite://p.db` relative."""
    path = url[len("sqlite://") :].split("?", 1)[0]
    if not path:
        raise ConfigError(
            "storage.url: 'sqlite://' needs a file path, e.g. sqlite:///var/lib/palaryn/palaryn.db"
        )
    return os.path.expanduser(path)


def sqlite_synchronous(url: str) -> str:
    """`?synchronous=full` (fsync every transaction: survives power loss) or the default `normal`."""
    query = parse_qs(url.partition("?")[2])
    value = (query.get("synchronous") or ["normal"])[0].lower()
    if value not in ("normal", "full"):
        raise ConfigError(f"storage.url: synchronous={value!r}; use normal or full")
    return value


def sqlite_write_behind_ms(url: str) -> float:
    """`?write_behind_ms=N` (default 20): how long the proxy's decisions may wait to reach the file; 0 makes
    every call its own transaction (strict sharing of one file between processes)."""
    query = parse_qs(url.partition("?")[2])
    raw = (query.get("write_behind_ms") or [str(DEFAULT_WRITE_BEHIND_MS)])[0]
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10_000:
        raise ConfigError(
            f"storage.url: write_behind_ms={raw!r}; use a number of milliseconds from 0 to 10000"
        )
    return value


def open_storage(url: str, *, key_prefix: str = DEFAULT_PREFIX, write_behind: bool = True) -> Storage:
    """Open the backend named by `url`: memory://, sqlite://<path>, redis://host:port/db (or rediss://, unix://).

    A SQLite store opened with `write_behind` (the proxy) decides in memory and writes behind
    (`?write_behind_ms`); tools that only look or make one change (the CLI) pass False and write through.

    Raises ConfigError for an unknown scheme and StorageError if a SQLite file cannot be opened; a Redis
    server is only contacted on first use (call `await storage.ping()` to check it at start-up).
    """
    if url == "memory://":
        from palaryn_proxy.storage.backend_memory import MemoryStorage

        return MemoryStorage(key_prefix)
    if url.startswith("sqlite://"):
        from palaryn_proxy.storage.backend_sqlite import SqliteStorage
        from palaryn_proxy.storage.backend_sqlite_mirror import MirroredSqliteStorage

        delay_ms = sqlite_write_behind_ms(url)
        if write_behind and delay_ms > 0:
            return MirroredSqliteStorage(
                sqlite_path(url), key_prefix, write_behind_ms=delay_ms, synchronous=sqlite_synchronous(url)
            )
        return SqliteStorage(sqlite_path(url), key_prefix, synchronous=sqlite_synchronous(url))
    if url.startswith(_REDIS_SCHEMES):
        from palaryn_proxy.storage.backend_redis import RedisStorage

        return RedisStorage(url, key_prefix)
    raise ConfigError(
        f"storage.url: unknown scheme in {redact_url(url)!r}; use memory://, sqlite:///path/palaryn.db"
        " or redis://host:port/db"
    )


def _fail_open(raw: Mapping[str, Any], storage: Mapping[str, Any]) -> bool:
    mode = raw.get("fail_mode", "closed")
    if mode not in ("closed", "open"):
        raise ConfigError(f"fail_mode: expected 'closed' or 'open', got {mode!r}")
    fail_open = storage.get("fail_open", mode == "open")
    if not isinstance(fail_open, bool):
        raise ConfigError(f"storage.fail_open: expected true or false, got {fail_open!r}")
    if "fail_mode" in raw and "fail_open" in storage and fail_open != (mode == "open"):
        raise ConfigError("storage.fail_open contradicts fail_mode; keep only fail_mode")
    return fail_open


def parse_storage_config(raw: Mapping[str, Any]) -> StorageConfig:
    """Read `storage.url`, `storage.key_prefix` and `fail_mode` (or `storage.fail_open`) from the whole config."""
    storage = raw.get("storage") or {}
    if not isinstance(storage, Mapping):
        raise ConfigError("storage: expected a mapping with url / key_prefix")
    unknown = set(storage) - {"url", "key_prefix", "fail_open"}
    if unknown:
        raise ConfigError(f"storage.{sorted(unknown)[0]}: unknown key; allowed: url, key_prefix, fail_open")
    url = storage.get("url", DEFAULT_URL)
    prefix = storage.get("key_prefix", DEFAULT_PREFIX)
    if not isinstance(url, str) or not url.startswith(("memory://", "sqlite://", *_REDIS_SCHEMES)):
        raise ConfigError("storage.url: use memory://, sqlite:///path/palaryn.db or redis://host:port/db")
    if url.startswith("sqlite://"):
        sqlite_path(url)
        sqlite_synchronous(url)
        sqlite_write_behind_ms(url)
    if not isinstance(prefix, str):
        raise ConfigError(f"storage.key_prefix: expected a string such as 'palaryn:', got {prefix!r}")
    return StorageConfig(url, prefix, _fail_open(raw, storage))
