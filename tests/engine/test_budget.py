"""Budgets: config parsing, reservation across scopes, refusals, settle/warn_at, status and reset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from palaryn_proxy.budget import BudgetEngine, BudgetRefusal, BudgetReservation
from palaryn_proxy.budget.config import INFINITE, PER_REQUEST, Scope, format_usd, parse_budget_config
from palaryn_proxy.budget.periods import Period
from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.storage import Storage, open_storage
from palaryn_proxy.types import Identity

ALICE = Identity(actor="alice", workspace="ops")
BOB = Identity(actor="bob", workspace="ops")
D = Decimal


@pytest.fixture
async def store() -> AsyncIterator[Storage]:
    s = open_storage("memory://")
    yield s
    await s.close()


def engine(store: Storage, budgets: list[dict[str, Any]], **top: Any) -> BudgetEngine:
    return BudgetEngine(parse_budget_config({"budgets": budgets, **top}), store)


async def held(e: BudgetEngine, who: Identity, usd: str, tokens: int = 0) -> BudgetReservation:
    r = await e.reserve(who, D(usd), tokens)
    assert isinstance(r, BudgetReservation), r
    return r


async def refused(e: BudgetEngine, who: Identity, usd: str, tokens: int = 0) -> BudgetRefusal:
    r = await e.reserve(who, D(usd), tokens)
    assert isinstance(r, BudgetRefusal), r
    return r


# ---------------------------------------------------------------- config


def test_parse_full_config() -> None:
    cfg = parse_budget_config(
        {
            "timezone": "Europe/Berlin",
            "per_request_max_usd": "2.50",
            "budget_reservation_ttl_seconds": 120,
            "budgets": [
                {
                    "name": "team",
                    "scope": "workspace",
                    "match": "team-*",
                    "period": "day",
                    "limit_usd": 50,
                    "limit_tokens": 1000,
                    "warn_at": 0.8,
                },
                {"period": "month", "limit_usd": 0.1},
                {"scope": "actor", "period": "total", "limit_tokens": 5, "limit_usd": None, "warn_at": None},
            ],
        }
    )
    assert cfg.per_request_max_usd == D("2.50") and cfg.reservation_ttl_seconds == 120
    assert str(cfg.timezone) == "Europe/Berlin"
    team, month, actor = cfg.budgets
    assert (team.name, team.scope, team.period, team.limit_usd, team.limit_tokens, team.warn_at) == (
        "team",
        Scope.WORKSPACE,
        Period.DAY,
        D(50),
        1000,
        D("0.8"),
    )
    assert (month.name, month.scope, month.match, month.limit_usd) == (
        "global-month",
        Scope.GLOBAL,
        "*",
        D("0.1"),
    )
    assert (actor.name, actor.limit_usd, actor.limit_tokens) == ("actor-total", None, 5)
    assert parse_budget_config({}).budgets == ()


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        (
            {"budgets": [{"period": "day", "limit_usd": 1}] * 2 + [{"period": "daily", "limit_usd": 1}]},
            "budgets[2].period",
            "hour | day",
        ),
        ({"budgets": [{"limit_usd": 1}]}, "budgets[0].period", "add period"),
        ({"budgets": [{"period": "day"}]}, "budgets[0].limit_usd", "limit_tokens"),
        ({"budgets": [{"period": "day", "limit_usd": "ten"}]}, "budgets[0].limit_usd", "such as 5"),
        ({"budgets": [{"period": "day", "limit_usd": -1}]}, "budgets[0].limit_usd", "such as 5"),
        ({"budgets": [{"period": "day", "limit_usd": True}]}, "budgets[0].limit_usd", "such as 5"),
        ({"budgets": [{"period": "day", "limit_tokens": 1.5}]}, "budgets[0].limit_tokens", "whole number"),
        ({"budgets": [{"period": "day", "limit_usd": 1, "warn_at": 80}]}, "budgets[0].warn_at", "0.8"),
        ({"budgets": [{"period": "day", "limit_usd": 1, "scope": "user"}]}, "budgets[0].scope", "actor"),
        ({"budgets": [{"period": "day", "limit_usd": 1, "match": "x*"}]}, "budgets[0].match", "pick a scope"),
        ({"budgets": [{"period": "day", "limit_usd": 1, "name": "a b"}]}, "budgets[0].name", "letters"),
        ({"budgets": [{"period": "day", "limit_usd": 1, "limit": 2}]}, "budgets[0].limit", "allowed"),
        (
            {"budgets": [{"period": "day", "limit_usd": 1}, {"period": "day", "limit_usd": 2}]},
            "budgets[1].name",
            "unique",
        ),
        ({"budgets": ["day"]}, "budgets[0]", "mapping"),
        ({"budgets": {"period": "day"}}, "budgets", "list"),
        ({"budgets": [{"period": "day", "limit_usd": 10**8}]}, "budgets[0].limit_usd", "largest storable"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"per_request_max_usd": "lots"}, "per_request_max_usd", "such as 5"),
        ({"budget_reservation_ttl_seconds": 0}, "budget_reservation_ttl_seconds", "above 0"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(raw: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_budget_config(raw)
    assert str(info.value).startswith(key + ":")
    assert hint in str(info.value)


def test_format_usd() -> None:
    assert [format_usd(D(x)) for x in ("1.5", "0.000123", "10", "0.0000001")] == [
        "$1.50",
        "$0.000123",
        "$10.00",
        "$0.00",
    ]
    assert format_usd(INFINITE) == "unlimited"


# ---------------------------------------------------------------- reservation


async def test_each_actor_has_its_own_counter(store: Storage) -> None:
    e = engine(store, [{"scope": "actor", "period": "day", "limit_usd": 1}])
    a = await held(e, ALICE, "0.75")
    await e.settle(a, D("0.75"), 10)
    await refused(e, ALICE, "0.30")
    await held(e, BOB, "1.00")  # bob's counter is untouched by alice's spend


async def test_global_budget_is_one_pool(store: Storage) -> None:
    e = engine(store, [{"period": "day", "limit_usd": 1}])
    await held(e, ALICE, "0.60")
    r = await refused(e, BOB, "0.60")
    assert r.charge is not None and r.charge.scope_value == "" and r.charge.reserved_usd == D("0.6")


async def test_every_applicable_budget_must_admit_and_a_refusal_holds_nothing(store: Storage) -> None:
    e = engine(
        store,
        [
            {"name": "pool", "period": "month", "limit_usd": 100},
            {"name": "ops", "scope": "workspace", "match": "ops", "period": "day", "limit_usd": 1},
        ],
    )
    r = await refused(e, ALICE, "2")
    assert r.budget == "ops"
    status = {row.budget.name: row for row in await e.status(workspace="ops")}
    assert status["pool"].state.reserved_nanos == 0 and status["ops"].state.reserved_nanos == 0
    other = Identity(actor="carol", workspace="research")
    await held(e, other, "2")  # "ops" does not match workspace "research"


async def test_match_glob_and_task_scope(store: Storage) -> None:
    e = engine(
        store,
        [
            {"name": "bots", "scope": "actor", "match": "bot-*", "period": "day", "limit_usd": 1},
            {"name": "per-task", "scope": "task", "period": "total", "limit_usd": 5},
        ],
    )
    assert [c.budget.name for c in e.charges(Identity("bot-7", "w", task="t1"))] == ["bots", "per-task"]
    assert [c.budget.name for c in e.charges(Identity("human", "w"))] == []
    assert [c.scope_value for c in e.charges(Identity("bot-7", "w"))] == ["bot-7"]


async def test_refusal_explains_budget_spent_remaining_and_reset(store: Storage) -> None:
    e = engine(
        store,
        [{"name": "daily", "scope": "actor", "period": "day", "limit_usd": 1}],
        timezone="Europe/Berlin",
    )
    first = await held(e, ALICE, "0.5")
    await e.settle(first, D("0.4"), 100)
    await held(e, ALICE, "0.25")
    r = await refused(e, ALICE, "0.5", 900)
    assert r.budget == "daily" and r.charge is not None
    assert (r.charge.spent_usd, r.charge.reserved_usd, r.charge.remaining_usd) == (
        D("0.4"),
        D("0.25"),
        D("0.35"),
    )
    assert r.requested_usd == D("0.5") and r.requested_tokens == 900
    assert r.resets_at is not None and r.resets_at.hour == 0 and str(r.resets_at.tzinfo) == "Europe/Berlin"
    assert r.resets_at > datetime.now(UTC)
    msg = r.message
    for part in (
        "'daily'",
        "actor 'alice'",
        "day",
        "spent $0.40 of $1.00",
        "$0.25 held",
        "$0.35 left",
        "needs up to $0.50",
        "resets at",
    ):
        assert part in msg
    reason = r.reason()
    assert (reason.stage, reason.rule, reason.message) == ("budget", "daily", msg)


async def test_per_request_cap(store: Storage) -> None:
    e = engine(store, [], per_request_max_usd="0.10")
    r = await refused(e, ALICE, "0.11", 4000)
    assert r.budget == PER_REQUEST and r.charge is None and r.resets_at is None
    assert "$0.11" in r.message and "$0.10" in r.message and "max_tokens" in r.message
    ok = await held(e, ALICE, "0.10")
    assert e.remaining_usd(ok) == D("0.10")


async def test_token_limits(store: Storage) -> None:
    e = engine(store, [{"scope": "actor", "period": "hour", "limit_tokens": 1000}])
    r = await held(e, ALICE, "5", 800)
    assert e.remaining_usd(r) == INFINITE and e.remaining_tokens(r) == 1000
    bad = await refused(e, ALICE, "0", 201)
    assert "of 1000 tokens" in bad.message
    await e.settle(r, D("5"), 100)
    await held(e, ALICE, "0", 900)


async def test_remaining_usd_is_the_tightest_budget_including_own_hold(store: Storage) -> None:
    e = engine(
        store,
        [
            {"name": "wide", "period": "month", "limit_usd": 100},
            {"name": "narrow", "scope": "actor", "period": "day", "limit_usd": 3},
        ],
    )
    other = await held(e, ALICE, "1")
    mine = await held(e, ALICE, "0.5")
    assert e.remaining_usd(mine) == D(2)  # 3 - 1 held by the other flow; includes this flow's own 0.5
    await e.release(other)
    nothing = BudgetEngine(parse_budget_config({}), store)
    assert nothing.remaining_usd(await held(nothing, ALICE, "9")) == INFINITE


async def test_settle_records_exact_cost_and_is_idempotent(store: Storage) -> None:
    e = engine(store, [{"scope": "actor", "period": "day", "limit_usd": 1}])
    r = await held(e, ALICE, "0.5")
    s = await e.settle(r, D("0.0000012345"), 42)
    assert s.applied and s.cost_usd == D("0.000001234")  # stored to the nano-dollar, half-even
    assert [c.spent_usd for c in s.charges] == [s.cost_usd]
    again = await e.settle(r, D("0.3"), 1)
    assert not again.applied
    assert not await e.release(r)
    rows = await e.status(actor="alice")
    assert rows[0].spent_usd == D("0.000001234") and rows[0].state.spent_tokens == 42


async def test_release_frees_the_hold(store: Storage) -> None:
    e = engine(store, [{"period": "day", "limit_usd": 1}])
    r = await held(e, ALICE, "1")
    await refused(e, BOB, "0.01")
    assert await e.release(r)
    await held(e, BOB, "1")


async def test_warn_at_is_reported_once_by_the_crossing_settle(store: Storage) -> None:
    e = engine(store, [{"name": "d", "scope": "actor", "period": "day", "limit_usd": 10, "warn_at": 0.8}])
    seen = []
    for cost in ("5", "2.99", "0.01", "0.5"):  # 5 -> 7.99 -> 8.00 (crosses) -> 8.5
        r = await held(e, ALICE, "1")
        s = await e.settle(r, D(cost), 1)
        seen.append([w.describe() for w in s.warnings])
    assert seen[:2] == [[], []] and seen[3] == []
    assert seen[2] == [
        "budget 'd' (actor 'alice', day): spent $8.00 of $10.00, $0.00 held by requests in flight, $2.00 left"
    ]


async def test_above_warn_at_flags_later_flows_for_the_response_header(store: Storage) -> None:
    e = engine(store, [{"name": "d", "scope": "actor", "period": "day", "limit_usd": 10, "warn_at": 0.5}])
    first = await held(e, ALICE, "1")
    assert e.above_warn_at(first) == ()
    await e.settle(first, D("5"), 1)
    later = await held(e, ALICE, "1")
    assert [c.budget.name for c in e.above_warn_at(later)] == ["d"]
    assert e.above_warn_at(await held(e, BOB, "1")) == ()


async def test_warn_at_on_tokens(store: Storage) -> None:
    e = engine(store, [{"period": "day", "limit_tokens": 100, "warn_at": 0.5}])
    r = await held(e, ALICE, "0", 60)
    assert len((await e.settle(r, D(0), 60)).warnings) == 1


async def test_unconfigured_flows_still_get_a_cost(store: Storage) -> None:
    e = engine(store, [])
    r = await held(e, ALICE, "3")
    assert r.charges == ()
    s = await e.settle(r, D("1.25"), 5)
    assert s.applied and s.cost_usd == D("1.25") and s.warnings == ()
    assert await e.release(r)


async def test_windows_are_separate_counters(store: Storage) -> None:
    e = engine(store, [{"scope": "actor", "period": "day", "limit_usd": 1}], timezone="Europe/Berlin")
    late = datetime(2099, 5, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin, 1 May
    after_midnight = datetime(2099, 5, 1, 22, 30, tzinfo=UTC)  # 00:30 in Berlin, 2 May
    r = await e.reserve(ALICE, D(1), 0, now=late)
    assert isinstance(r, BudgetReservation)
    assert isinstance(await e.reserve(ALICE, D(1), 0, now=late), BudgetRefusal)
    assert isinstance(await e.reserve(ALICE, D(1), 0, now=after_midnight), BudgetReservation)
    assert r.charges[0].counter.key == "budget:actor-day:2099-05-01:alice"


async def test_fifty_concurrent_reserves_never_overspend(store: Storage) -> None:
    e = engine(store, [{"name": "d", "scope": "actor", "period": "day", "limit_usd": "1.00"}])

    async def flow() -> bool:
        r = await e.reserve(ALICE, D("0.30"), 100)
        if isinstance(r, BudgetRefusal):
            return False
        await asyncio.sleep(0)
        await e.settle(r, D("0.25"), 80)
        return True

    admitted = sum(await asyncio.gather(*(flow() for _ in range(50))))
    spent = (await e.status(actor="alice"))[0].spent_usd
    assert admitted >= 3 and spent == admitted * D("0.25") and spent <= D(1)


async def test_negative_amounts_are_programming_errors(store: Storage) -> None:
    e = engine(store, [{"period": "day", "limit_usd": 1}])
    with pytest.raises(ValueError, match="negative"):
        await e.reserve(ALICE, D("-1"), 0)
    with pytest.raises(ValueError, match="negative"):
        await e.settle(await held(e, ALICE, "1"), D("0"), -5)


async def test_storage_failure_raises_for_the_caller_to_decide(tmp_path: Path) -> None:
    store = open_storage(f"sqlite://{tmp_path}/b.db")
    e = engine(store, [{"period": "day", "limit_usd": 1}])
    await store.close()
    with pytest.raises(StorageError):
        await e.reserve(ALICE, D(1), 1)


# ---------------------------------------------------------------- operator views


async def test_status_lists_counters_and_reset_zeroes_them(store: Storage) -> None:
    e = engine(
        store,
        [
            {"name": "pool", "period": "month", "limit_usd": 100},
            {"name": "per-actor", "scope": "actor", "period": "day", "limit_usd": 2, "limit_tokens": 50},
        ],
    )
    for who, cost in ((ALICE, "0.5"), (BOB, "1.5"), (Identity("x:y", "ops"), "0.1")):
        await e.settle(await held(e, who, "1"), D(cost), 10)
    await held(e, BOB, "0.25", 5)
    rows = [(r.budget.name, r.scope_value, r.spent_usd, r.reserved_usd) for r in await e.status()]
    assert rows == [
        ("pool", "", D("2.1"), D("0.25")),
        ("per-actor", "alice", D("0.5"), D(0)),
        ("per-actor", "bob", D("1.5"), D("0.25")),
        ("per-actor", "x:y", D("0.1"), D(0)),
    ]
    bob = (await e.status(actor="bob"))[1].to_dict()
    assert set(bob) >= {
        "name",
        "scope",
        "scope_value",
        "period",
        "limit_usd",
        "spent_usd",
        "reserved_usd",
        "remaining_usd",
        "resets_at",
    }
    assert (bob["name"], bob["scope"], bob["scope_value"], bob["period"]) == (
        "per-actor",
        "actor",
        "bob",
        "day",
    )
    assert (bob["limit_usd"], bob["spent_usd"], bob["reserved_usd"], bob["remaining_usd"]) == (
        2.0,
        1.5,
        0.25,
        0.25,
    )
    assert datetime.fromisoformat(bob["resets_at"]) > datetime.now(UTC)
    assert await e.reset("per-actor", "bob") == 1
    assert (await e.status(actor="bob"))[1].spent_usd == 0
    assert await e.reset("per-actor") == 2  # alice and x:y; bob was already reset
    assert [r.budget.name for r in await e.status()] == ["pool"]
    with pytest.raises(ConfigError, match="'nope' is not configured"):
        await e.reset("nope")
