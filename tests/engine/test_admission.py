"""Admission: the rate-limit check and the budget reservation in one call, the rate limit answering first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from palaryn_proxy.budget import (
    Admitted,
    BudgetEngine,
    BudgetRefusal,
    BudgetReservation,
    Refused,
    admit,
    parse_budget_config,
)
from palaryn_proxy.errors import StorageError
from palaryn_proxy.ratelimit import RateLimiter, RateLimitRefusal, RateLimitTicket, parse_rate_limit_config
from palaryn_proxy.storage import Storage, open_storage
from palaryn_proxy.storage.backend_memory import MemoryStorage
from palaryn_proxy.storage.base import Bucket, HitResult
from palaryn_proxy.types import Identity

ALICE = Identity(actor="alice", workspace="ops")
HOST = "api.openai.com"
D = Decimal


@pytest.fixture
async def store() -> AsyncIterator[Storage]:
    s = open_storage("memory://")
    yield s
    await s.close()


def limiter(store: Storage, rpm: int = 1) -> RateLimiter:
    rules = [{"name": "rpm", "scope": "actor", "requests_per_minute": rpm, "tokens_per_minute": 10_000}]
    return RateLimiter(parse_rate_limit_config({"rate_limits": rules}), store)


def budgets(store: Storage) -> BudgetEngine:
    daily = [{"name": "daily", "scope": "actor", "period": "day", "limit_usd": 1}]
    return BudgetEngine(parse_budget_config({"budgets": daily}), store)


async def call(
    rl: RateLimiter | None, e: BudgetEngine | None, usd: str = "0.6", *, fail_open: bool = False
) -> Admitted | Refused:
    return await admit(
        rl, e, ALICE, HOST, tokens=100, worst_usd=D(usd), worst_tokens=100, fail_open=fail_open
    )


async def held(e: BudgetEngine) -> Decimal:
    """What alice's daily budget has on hold for calls in flight."""
    return sum((c.reserved_usd for c in await e.status(actor="alice")), D(0))


async def closed_store(tmp_path: Path) -> Storage:
    s = open_storage(f"sqlite://{tmp_path}/gone.db")
    await s.close()
    return s


async def test_both_admit_in_one_call(store: Storage) -> None:
    e = budgets(store)
    got = await call(limiter(store), e)
    assert isinstance(got, Admitted) and got.unchecked == ()
    assert isinstance(got.rate_ticket, RateLimitTicket) and len(got.rate_ticket.token_buckets) == 1
    assert isinstance(got.reservation, BudgetReservation) and await held(e) == D("0.6")


async def test_a_rate_refusal_answers_first_and_releases_the_reservation(store: Storage) -> None:
    rl, e = limiter(store), budgets(store)
    assert isinstance(await call(rl, e, "0.3"), Admitted)
    got = await call(rl, e, "0.3")
    assert isinstance(got, Refused) and got.check == "ratelimit" and got.rate_ticket is None
    assert isinstance(got.cause, RateLimitRefusal) and got.cause.rule == "rpm"
    assert await held(e) == D("0.3")  # the first call's hold only


async def test_when_both_refuse_the_rate_limit_wins(store: Storage) -> None:
    rl, e = limiter(store), budgets(store)
    assert isinstance(await call(rl, e), Admitted)
    got = await call(rl, e)  # over one request a minute and over the $1 left
    assert isinstance(got, Refused) and isinstance(got.cause, RateLimitRefusal)


async def test_a_budget_refusal_keeps_the_rate_ticket_to_correct(store: Storage) -> None:
    rl, e = limiter(store, rpm=2), budgets(store)
    got = await call(rl, e, "2")
    assert isinstance(got, Refused) and got.check == "budget"
    assert isinstance(got.cause, BudgetRefusal) and got.cause.budget == "daily"
    assert isinstance(got.rate_ticket, RateLimitTicket)  # the caller corrects its tokens at the end
    assert await held(e) == 0
    assert isinstance(await rl.check(ALICE, HOST), RateLimitTicket)
    assert isinstance(await rl.check(ALICE, HOST), RateLimitRefusal)  # the refused call counted


async def test_rate_storage_failing_closed_refuses_and_releases(store: Storage, tmp_path: Path) -> None:
    e = budgets(store)
    got = await call(limiter(await closed_store(tmp_path)), e)
    assert isinstance(got, Refused) and got.check == "ratelimit" and isinstance(got.cause, StorageError)
    assert await held(e) == 0


async def test_rate_storage_failing_open_lets_the_budget_answer(store: Storage, tmp_path: Path) -> None:
    e = budgets(store)
    got = await call(limiter(await closed_store(tmp_path)), e, fail_open=True)
    assert isinstance(got, Admitted) and got.rate_ticket is None and got.reservation is not None
    assert [u.check for u in got.unchecked] == ["ratelimit"]
    refused = await call(limiter(await closed_store(tmp_path)), e, fail_open=True)
    assert isinstance(refused, Refused) and isinstance(refused.cause, BudgetRefusal)
    assert [u.check for u in refused.unchecked] == ["ratelimit"]


async def test_budget_storage_failing(store: Storage, tmp_path: Path) -> None:
    gone = await closed_store(tmp_path)
    closed = await call(limiter(store, rpm=10), budgets(gone))
    assert isinstance(closed, Refused) and closed.check == "budget" and isinstance(closed.cause, StorageError)
    assert isinstance(closed.rate_ticket, RateLimitTicket)
    opened = await call(limiter(store, rpm=10), budgets(gone), fail_open=True)
    assert isinstance(opened, Admitted) and opened.reservation is None
    assert isinstance(opened.rate_ticket, RateLimitTicket) and [u.check for u in opened.unchecked] == [
        "budget"
    ]


async def test_both_storages_failing(tmp_path: Path) -> None:
    gone = await closed_store(tmp_path)
    opened = await call(limiter(gone), budgets(gone), fail_open=True)
    assert isinstance(opened, Admitted) and opened.rate_ticket is None and opened.reservation is None
    assert [u.check for u in opened.unchecked] == ["ratelimit", "budget"]
    closed = await call(limiter(gone), budgets(gone))
    assert isinstance(closed, Refused) and closed.check == "ratelimit" and closed.unchecked == ()


async def test_a_rate_refusal_wins_over_a_budget_storage_error(store: Storage, tmp_path: Path) -> None:
    rl, gone = limiter(store), budgets(await closed_store(tmp_path))
    assert isinstance(await rl.check(ALICE, HOST), RateLimitTicket)
    got = await call(rl, gone, fail_open=True)
    assert isinstance(got, Refused) and isinstance(got.cause, RateLimitRefusal) and got.unchecked == ()


async def test_either_check_may_be_absent(store: Storage) -> None:
    only_budget = await call(None, budgets(store))
    assert isinstance(only_budget, Admitted) and only_budget.rate_ticket is None
    assert only_budget.reservation is not None
    only_rate = await admit(limiter(store), None, ALICE, HOST, fail_open=False)
    assert isinstance(only_rate, Admitted) and only_rate.reservation is None
    assert only_rate.rate_ticket is not None and only_rate.rate_ticket.token_buckets == ()  # tokens=None
    assert await call(None, None) == Admitted()


class _Gate(MemoryStorage):
    """Holds a rate hit and a reservation until both have arrived: admission deadlocks if they run in turn."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = 0
        self.both = asyncio.Event()

    async def _meet(self) -> None:
        self.arrived += 1
        if self.arrived == 2:
            self.both.set()
        await self.both.wait()

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        await self._meet()
        return await super().hit(buckets)

    async def reserve(self, *args: Any) -> Any:
        await self._meet()
        return await super().reserve(*args)


async def test_the_two_storage_calls_are_in_flight_together() -> None:
    gate = _Gate()
    got = await asyncio.wait_for(call(limiter(gate), budgets(gate)), timeout=5)
    assert isinstance(got, Admitted)


class _Broken(MemoryStorage):
    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        await asyncio.sleep(0.01)  # the reservation is made first
        raise RuntimeError("a bug, not an outage")


async def test_an_unexpected_error_releases_the_hold_and_is_raised() -> None:
    broken = _Broken()
    e = budgets(broken)
    with pytest.raises(RuntimeError, match="a bug"):
        await call(limiter(broken), e)
    assert await held(e) == 0


async def test_on_a_sqlite_file(tmp_path: Path) -> None:
    s = open_storage(f"sqlite://{tmp_path}/a.db")
    try:
        rl, e = limiter(s), budgets(s)
        assert isinstance(await call(rl, e, "0.4"), Admitted)
        got = await call(rl, e, "0.4")
        assert isinstance(got, Refused) and isinstance(got.cause, RateLimitRefusal)
        assert await held(e) == D("0.4")
    finally:
        await s.close()
