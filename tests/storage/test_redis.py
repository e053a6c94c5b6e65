"""Redis-only guarantees: prefixed keys that expire with their window, StorageError when down, reconnect."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage import Bucket, Counter, CounterState, open_storage

if TYPE_CHECKING:
    from tests.storage.conftest import RedisProcess

USD = 10**9


async def test_every_key_is_prefixed_and_expires(redis_server: RedisProcess, prefix: str) -> None:
    store = open_storage(redis_server.url, key_prefix=prefix)
    raw = aioredis.Redis(port=redis_server.port, decode_responses=True)
    try:
        window_end = time.time() + 3600
        c = Counter("budget:day:2024-01-01", limit_nanos=USD, expire_at=window_end)
        await store.reserve("r1", [c], USD // 2, 10, 120)
        await store.reserve("r2", [c], USD // 4, 10, 120)
        await store.settle("r2", [c], 1, 1)
        await store.hit([Bucket("rate:rpm:alice", limit=10, window_seconds=60)])
        await store.put("approval:x", "pending", 30)
        keys = sorted(await raw.keys(prefix + "*"))
        assert keys == sorted(
            prefix + k
            for k in (
                "b:budget:day:2024-01-01",
                "r:r1",
                "r:r2",
                "rl:rate:rpm:alice",
                "rm:rate:rpm:alice",
                "kv:approval:x",
            )
        )
        ttl = {k[len(prefix) :]: await raw.pttl(k) for k in keys}
        assert 3590_000 < ttl["b:budget:day:2024-01-01"] <= 3600_000
        assert 120_000 < ttl["r:r1"] <= 120_000 + 3600_000  # hold + grace for a late settle
        assert 3500_000 < ttl["r:r2"] <= 3600_000  # finished: remembered for the grace period only
        assert 0 < ttl["rl:rate:rpm:alice"] <= 60_000
        assert 0 < ttl["rm:rate:rpm:alice"] <= 60_000
        assert 0 < ttl["kv:approval:x"] <= 30_000
        assert await raw.keys("b:*") == []
    finally:
        await raw.aclose()
        await store.close()


async def test_total_period_counter_has_no_expiry(redis_server: RedisProcess, prefix: str) -> None:
    store = open_storage(redis_server.url, key_prefix=prefix)
    raw = aioredis.Redis(port=redis_server.port)
    try:
        await store.settle("r", [Counter("budget:total")], USD, 1)
        assert await raw.ttl(prefix + "b:budget:total") == -1
    finally:
        await raw.aclose()
        await store.close()


async def test_dead_server_raises_storage_error_without_leaking_password(unused_port: int) -> None:
    store = open_storage(f"redis://:s3cret-pw@127.0.0.1:{unused_port}/0")
    try:
        with pytest.raises(StorageError) as info:
            await store.reserve("r", [Counter("c", limit_nanos=1)], 1, 1, 60)
        assert "s3cret-pw" not in str(info.value)
        for op in (store.ping(), store.get("k"), store.hit([Bucket("b", 1, 1)]), store.counter("c")):
            with pytest.raises(StorageError):
                await op
    finally:
        await store.close()


async def test_restart_mid_run_fails_then_reconnects_keeping_settled_spend(own_redis: RedisProcess) -> None:
    store = open_storage(own_redis.url)
    try:
        c = Counter("budget:day", limit_nanos=10 * USD)
        await store.reserve("a", [c], USD, 5, 60)
        await store.settle("a", [c], USD, 5)
        own_redis.stop()
        with pytest.raises(StorageError):
            await store.reserve("b", [c], USD, 5, 60)
        with pytest.raises(StorageError):
            await store.settle("b", [c], USD, 5)
        own_redis.start()
        # The same client reconnects by itself; the acknowledged settle survived (AOF, fsync always).
        assert await store.counter("budget:day") == CounterState(USD, 5, 0, 0)
        assert (await store.reserve("b", [c], USD, 5, 60)).ok
    finally:
        await store.close()


async def test_lua_scripts_survive_script_flush(redis_server: RedisProcess, prefix: str) -> None:
    store = open_storage(redis_server.url, key_prefix=prefix)
    raw = aioredis.Redis(port=redis_server.port)
    try:
        await store.hit([Bucket("b", 5, 60)])
        await raw.script_flush()
        assert (await store.hit([Bucket("b", 5, 60)])).remaining == 3
    finally:
        await raw.aclose()
        await store.close()
