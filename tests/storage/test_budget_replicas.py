"""The issue's guarantee at engine level: two replicas, one store, 50 concurrent flows, spend never over."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from storage.backends import one_process_only

from palaryn_proxy.budget import BudgetEngine, BudgetRefusal, parse_budget_config
from palaryn_proxy.storage import open_storage
from palaryn_proxy.types import Identity

CONFIG = {
    "budgets": [
        {"name": "team", "scope": "workspace", "period": "day", "limit_usd": "1.00"},
        {"name": "pool", "period": "month", "limit_usd": 100, "limit_tokens": 10**6},
    ]
}


async def test_two_replicas_fifty_flows_spend_equals_audited_costs(store_url: str, prefix: str) -> None:
    config = parse_budget_config(CONFIG)
    # memory:// cannot be shared between processes: both "replicas" use one object there.
    shared = one_process_only(store_url)
    stores = [open_storage(store_url, key_prefix=prefix) for _ in range(1 if shared else 2)]
    replicas = [BudgetEngine(config, stores[0]), BudgetEngine(config, stores[-1])]
    rng = random.Random(4)
    audited: list[Decimal] = []

    async def flow(i: int) -> bool:
        engine = replicas[i % 2]
        who = Identity(actor=f"agent-{i}", workspace="ops")
        r = await engine.reserve(who, Decimal("0.30"), 2000)
        if isinstance(r, BudgetRefusal):
            assert r.budget == "team"
            return False
        await asyncio.sleep(rng.random() / 100)
        if i % 7 == 0:  # an upstream error: nothing billed
            await engine.release(r)
            return True
        settled = await engine.settle(r, Decimal("0.3") * Decimal(rng.random()), 1500)
        audited.append(settled.cost_usd)
        return True

    try:
        admitted = sum(await asyncio.gather(*(flow(i) for i in range(50))))
        rows = {row.budget.name: row for row in await replicas[0].status(workspace="ops")}
        assert 3 <= admitted < 50
        assert rows["team"].spent_usd == sum(audited) <= Decimal(1)
        assert rows["pool"].spent_usd == sum(audited)
        assert rows["team"].reserved_usd == 0
    finally:
        for s in stores:
            await s.close()
