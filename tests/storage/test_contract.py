"""One behavioural contract, run against memory, SQLite (a real file) and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from storage.backends import one_process_only

from palaryn_proxy.storage import Bucket, Counter, CounterState, Storage, open_storage

USD = 10**9


def rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def replica(store: Storage, store_url: str, prefix: str) -> AsyncIterator[Storage]:
    """A second handle on the same state, as a second proxy replica would have (memory and a mirrored SQLite
    file: the same object; replicas share Redis or a write-through SQLite file)."""
    if one_process_only(store_url):
        yield store
        return
    other = open_storage(store_url, key_prefix=prefix)
    yield other
    await other.close()


async def test_reserve_admits_within_limit_and_reports_state(store: Storage) -> None:
    day = Counter("budget:day", limit_nanos=10 * USD)
    first = await store.reserve(rid(), [day], 4 * USD, 100, 60)
    second = await store.reserve(rid(), [day], 4 * USD, 100, 60)
    assert first.ok and second.ok
    assert first.states == (CounterState(),)
    assert second.states == (CounterState(0, 0, 4 * USD, 100),)
    third = await store.reserve(rid(), [day], 4 * USD, 100, 60)
    assert not third.ok and third.blocked == 0
    assert await store.counter("budget:day") == CounterState(0, 0, 8 * USD, 200)


async def test_refusal_holds_nothing_on_any_counter(store: Storage) -> None:
    roomy = Counter("roomy", limit_nanos=100 * USD)
    tight = Counter("tight", limit_nanos=1 * USD)
    result = await store.reserve(rid(), [roomy, tight], 2 * USD, 10, 60)
    assert not result.ok and result.blocked == 1
    assert await store.counter("roomy") == CounterState()
    assert await store.counter("tight") == CounterState()


async def test_token_limit_and_unlimited_counters(store: Storage) -> None:
    tokens = Counter("tok", limit_tokens=1000)
    free = Counter("free")
    assert (await store.reserve(rid(), [tokens, free], 10**12, 600, 60)).ok
    refused = await store.reserve(rid(), [free, tokens], 1, 401, 60)
    assert not refused.ok and refused.blocked == 1
    assert (await store.reserve(rid(), [free, tokens], 1, 400, 60)).ok


async def test_settle_replaces_hold_with_actual_and_is_idempotent(store: Storage) -> None:
    c = Counter("s", limit_nanos=10 * USD)
    r = rid()
    assert (await store.reserve(r, [c], 5 * USD, 500, 60)).ok
    settled = await store.settle(r, [c], 2 * USD, 123)
    assert settled.applied and settled.spent == ((2 * USD, 123),)
    assert await store.counter("s") == CounterState(2 * USD, 123, 0, 0)
    again = await store.settle(r, [c], 2 * USD, 123)
    assert not again.applied
    assert not await store.release(r, [c])
    assert await store.counter("s") == CounterState(2 * USD, 123, 0, 0)
    # The freed headroom is usable: 2 spent + 8 held = 10.
    assert (await store.reserve(rid(), [c], 8 * USD, 0, 60)).ok


async def test_release_frees_headroom_and_blocks_later_settle(store: Storage) -> None:
    c = Counter("r", limit_nanos=3 * USD)
    r = rid()
    assert (await store.reserve(r, [c], 3 * USD, 0, 60)).ok
    assert not (await store.reserve(rid(), [c], 1, 0, 60)).ok
    assert await store.release(r, [c])
    assert not await store.release(r, [c])
    assert not (await store.settle(r, [c], USD, 1)).applied
    assert await store.counter("r") == CounterState()
    assert (await store.reserve(rid(), [c], 3 * USD, 0, 60)).ok


async def test_repeated_reserve_of_held_id_holds_once(store: Storage) -> None:
    c = Counter("rep", limit_nanos=3 * USD)
    r = rid()
    assert (await store.reserve(r, [c], 2 * USD, 0, 60)).ok
    assert (await store.reserve(r, [c], 2 * USD, 0, 60)).ok
    assert (await store.counter("rep")).reserved_nanos == 2 * USD
    await store.settle(r, [c], USD, 0)
    finished = await store.reserve(r, [c], USD, 0, 60)
    assert not finished.ok and finished.blocked is None


async def test_lapsed_hold_stops_counting_but_late_settle_still_counts(store: Storage) -> None:
    c = Counter("lapse", limit_nanos=5 * USD)
    dead = rid()
    assert (await store.reserve(dead, [c], 5 * USD, 0, 0.3)).ok
    assert not (await store.reserve(rid(), [c], USD, 0, 60)).ok
    await asyncio.sleep(0.45)
    assert (await store.counter("lapse")).reserved_nanos == 0
    live = rid()
    assert (await store.reserve(live, [c], 4 * USD, 0, 60)).ok
    # The "dead" replica comes back and settles: the spend is recorded, not lost.
    assert (await store.settle(dead, [c], USD, 7)).applied
    assert await store.counter("lapse") == CounterState(USD, 7, 4 * USD, 0)


async def test_counter_window_expires(store: Storage) -> None:
    c = Counter("win", limit_nanos=USD, expire_at=time.time() + 0.6)
    r = rid()
    assert (await store.reserve(r, [c], USD, 0, 60)).ok
    await store.settle(r, [c], USD, 0)
    assert (await store.counter("win")).spent_nanos == USD
    await asyncio.sleep(0.8)
    assert await store.counter("win") == CounterState()
    fresh = Counter("win", limit_nanos=USD, expire_at=time.time() + 60)
    assert (await store.reserve(rid(), [fresh], USD, 0, 60)).ok


async def test_concurrent_reserves_across_replicas_never_overspend(store: Storage, replica: Storage) -> None:
    limit = 5 * USD
    c = Counter("race", limit_nanos=limit)
    cost = USD + USD // 2  # 1.5 USD: exactly 3 fit under 5 USD

    async def one(i: int) -> bool:
        s = store if i % 2 else replica
        r = rid()
        result = await s.reserve(r, [c], cost, 10, 60)
        if result.ok:
            await asyncio.sleep(0)
            await s.settle(r, [c], cost, 10)
        return result.ok

    outcomes = await asyncio.gather(*(one(i) for i in range(50)))
    assert sum(outcomes) == 3
    state = await store.counter("race")
    assert state == CounterState(3 * cost, 30, 0, 0)
    assert state.spent_nanos <= limit


async def test_concurrent_holds_admit_exactly_what_fits(store: Storage, replica: Storage) -> None:
    c = Counter("race2", limit_nanos=7 * USD, limit_tokens=10**6)
    results = await asyncio.gather(
        *((store if i % 2 else replica).reserve(rid(), [c], USD, 1, 60) for i in range(50))
    )
    assert sum(r.ok for r in results) == 7
    assert (await replica.counter("race2")).reserved_nanos == 7 * USD


async def test_counters_listing_and_reset(store: Storage) -> None:
    for key in ("budget:a:v:x*1", "budget:a:v:y", "budget:b:v:x"):
        r = rid()
        await store.reserve(r, [Counter(key)], USD, 1, 60)
        await store.settle(r, [Counter(key)], USD, 1)
    listed = await store.counters("budget:a:v:")
    assert set(listed) == {"budget:a:v:x*1", "budget:a:v:y"}
    assert listed["budget:a:v:y"] == CounterState(USD, 1, 0, 0)
    assert set(await store.counters("budget:a:v:x*")) == {"budget:a:v:x*1"}
    await store.reset("budget:a:v:y")
    assert await store.counter("budget:a:v:y") == CounterState()
    assert set(await store.counters("budget:")) == {"budget:a:v:x*1", "budget:b:v:x"}


async def test_hit_counts_requests_and_refuses_with_retry_after(store: Storage) -> None:
    b = Bucket("rpm", limit=3, window_seconds=60)
    results = [await store.hit([b]) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    refused = results[3]
    assert refused.blocked == 0
    assert 59 <= refused.retry_after_seconds <= 60


async def test_hit_is_all_or_none_across_buckets(store: Storage) -> None:
    wide = Bucket("wide", limit=5, window_seconds=60)
    narrow = Bucket("narrow", limit=1, window_seconds=60)
    assert (await store.hit([wide, narrow])).allowed
    refused = await store.hit([wide, narrow])
    assert not refused.allowed and refused.blocked == 1
    alone = await store.hit([wide])
    assert alone.allowed and alone.remaining == 3  # the refused hit took nothing from `wide`


async def test_sliding_window_admits_again_exactly_when_oldest_leaves(store: Storage) -> None:
    window = 1.0
    b = Bucket("edge", limit=2, window_seconds=window)
    first = await store.hit([b])
    await asyncio.sleep(0.4)
    second = await store.hit([b])
    refused = await store.hit([b])
    assert first.allowed and second.allowed and not refused.allowed
    # Exactly when the oldest hit leaves the window (stamps come from the store's own clock; 1 ms rounding).
    assert refused.retry_after_seconds == pytest.approx(first.stamp + window - refused.stamp, abs=0.002)
    await asyncio.sleep(refused.retry_after_seconds + 0.05)
    again = await store.hit([b])
    assert again.allowed
    after = await store.hit([b])
    if after.stamp < second.stamp + window:  # the second hit is still in the window
        assert not after.allowed


async def test_many_hits_leaving_the_window_free_exactly_their_cost(store: Storage) -> None:
    # More entries leave at once than the SQLite backend folds away in one step (_FOLD_AT).
    b = Bucket("fold", limit=100, window_seconds=0.3)
    for _ in range(80):
        assert (await store.hit([b])).allowed
    await asyncio.sleep(0.4)
    full = await store.hit([Bucket("fold", limit=100, window_seconds=0.3, cost=100)])
    assert full.allowed and full.remaining == 0
    assert not (await store.hit([b])).allowed
    await asyncio.sleep(0.4)
    assert (await store.hit([b])).remaining == 99


async def test_settle_after_the_window_ended_starts_the_counter_afresh(store: Storage) -> None:
    old = Counter("late", limit_nanos=10 * USD, expire_at=time.time() + 0.3)
    first, second = rid(), rid()
    assert (await store.reserve(first, [old], USD, 0, 60)).ok
    assert (await store.settle(first, [old], 3 * USD, 5)).applied
    assert (await store.reserve(second, [old], USD, 0, 60)).ok
    await asyncio.sleep(0.4)
    new = Counter("late", limit_nanos=10 * USD, expire_at=time.time() + 60)
    settled = await store.settle(second, [new], 2 * USD, 7)
    assert settled.applied and settled.spent == ((2 * USD, 7),)
    assert await store.counter("late") == CounterState(2 * USD, 7)


async def test_cost_above_limit_is_refused_for_a_whole_window(store: Storage) -> None:
    refused = await store.hit([Bucket("tpm", limit=100, window_seconds=60, cost=101)])
    assert not refused.allowed and refused.retry_after_seconds == 60
    assert (await store.hit([Bucket("tpm", limit=100, window_seconds=60, cost=100)])).allowed


async def test_correct_adjusts_an_earlier_hit(store: Storage) -> None:
    b = Bucket("tok", limit=100, window_seconds=60, cost=60)
    first = await store.hit([b])
    assert first.allowed
    assert not (await store.hit([Bucket("tok", 100, 60, cost=80)])).allowed
    await store.correct("tok", 60, first.stamp, -50)  # the request used 10 tokens, not 60
    ok = await store.hit([Bucket("tok", 100, 60, cost=80)])
    assert ok.allowed and ok.remaining == 10
    await store.correct("tok", 60, first.stamp, 20)
    assert not (await store.hit([Bucket("tok", 100, 60, cost=1)])).allowed


async def test_kv_put_get_delete_ttl_and_nx(store: Storage) -> None:
    assert await store.get("approval:1") is None
    assert await store.put("approval:1", "pending", 60)
    assert await store.get("approval:1") == "pending"
    assert not await store.put("approval:1", "other", 60, only_if_absent=True)
    assert await store.put("approval:1", "approved", 60)
    assert await store.get("approval:1") == "approved"
    assert await store.delete("approval:1")
    assert not await store.delete("approval:1")
    await store.put("short", "x", 0.2)
    await store.put("forever", "y")
    await asyncio.sleep(0.35)
    assert await store.get("short") is None
    assert await store.put("short", "z", 60, only_if_absent=True)
    assert await store.get("forever") == "y"


async def test_kv_keys_lists_live_keys_by_prefix(store: Storage) -> None:
    await store.put("approval:b", "1", 60)
    await store.put("approval:a", "1", 60)
    await store.put("approval_%x", "1", 60)  # LIKE / glob metacharacters are literal
    await store.put("approval:gone", "1", 0.1)
    await store.put("other:c", "1", 60)
    await asyncio.sleep(0.25)
    assert await store.keys("approval:") == ["approval:a", "approval:b"]
    assert await store.keys("approval_%") == ["approval_%x"]
    assert await store.keys("nothing") == []


async def test_ping(store: Storage) -> None:
    await store.ping()
