"""Spend budgets enforced by reservation: reserve the worst case before a request, settle the actual cost after.

Config (top level of the proxy config):

    timezone: Europe/Berlin          # calendar windows are aligned here (default UTC)
    per_request_max_usd: 2.00        # refuse a single request whose worst case costs more
    budget_reservation_ttl_seconds: 900   # a reservation never settled (replica died) stops counting after this
    budgets:
      - name: team-daily             # unique, [A-Za-z0-9_.-]; default "<scope>-<period>"
        scope: workspace             # global | workspace | actor | task (default global)
        match: "team-*"              # glob on the scope's value (default "*"); not for global
        period: day                  # hour | day | week | month | total
        limit_usd: 50                # and/or limit_tokens
        limit_tokens: 5000000
        warn_at: 0.8                 # fraction of the limit; crossing it is reported once

A scoped budget keeps one counter per value (each actor its own limit); `global` is one pool; every budget
that applies to a flow must admit it. Storage failures raise StorageError: the caller picks fail open/closed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from palaryn_proxy.budget.config import (
    INFINITE,
    PER_REQUEST,
    WINDOW_GRACE_SECONDS,
    Budget,
    BudgetConfig,
    Scope,
    format_usd,
    parse_budget_config,
)
from palaryn_proxy.budget.periods import Window, window
from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.ids import random_hex
from palaryn_proxy.storage.base import (
    ROUND_DOWN,
    ROUND_UP,
    Counter,
    CounterState,
    Storage,
    nanos_to_usd,
    usd_to_nanos,
)
from palaryn_proxy.types import Identity, Reason

__all__ = [
    "BudgetConfig",
    "BudgetEngine",
    "BudgetRefusal",
    "BudgetReservation",
    "Charge",
    "parse_budget_config",
]


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Charge:
    """One budget counter a flow is charged to, with the counter's `state` when this object was made.

    From `reserve`: the state just before this flow's hold. From `settle`: right after the settle.
    From `status`: now.
    """

    budget: Budget
    scope_value: str  # "" for a global budget
    window: Window
    counter: Counter
    state: CounterState = CounterState()

    @property
    def spent_usd(self) -> Decimal:
        return nanos_to_usd(self.state.spent_nanos)

    @property
    def reserved_usd(self) -> Decimal:
        return nanos_to_usd(self.state.reserved_nanos)

    def remaining_nanos(self) -> int | None:
        limit = self.counter.limit_nanos
        return None if limit is None else limit - self.state.spent_nanos - self.state.reserved_nanos

    @property
    def remaining_usd(self) -> Decimal | None:
        left = self.remaining_nanos()
        return None if left is None else nanos_to_usd(max(left, 0))

    def describe(self) -> str:
        """`budget 'team-daily' (workspace 'ops', day): spent $4.10 of $5.00, $0.20 held, $0.70 left`."""
        b = self.budget
        who = f"{b.scope} {self.scope_value!r}, " if self.scope_value else ""
        if b.limit_usd is None:
            used = f"spent {self.state.spent_tokens} of {b.limit_tokens} tokens"
        else:
            left = format_usd(self.remaining_usd or Decimal(0))
            used = f"spent {format_usd(self.spent_usd)} of {format_usd(b.limit_usd)}, "
            used += f"{format_usd(self.reserved_usd)} held by requests in flight, {left} left"
        return f"budget {b.name!r} ({who}{b.period}): {used}"

    def to_dict(self) -> dict[str, Any]:
        """The `budget status --json` object: money as JSON numbers, `resets_at` ISO-8601 or null."""

        def num(d: Decimal | None) -> float | None:
            return None if d is None else float(d)

        b = self.budget
        return {
            "name": b.name,
            "scope": b.scope.value,
            "scope_value": self.scope_value,
            "period": b.period.value,
            "limit_usd": num(b.limit_usd),
            "spent_usd": num(self.spent_usd),
            "reserved_usd": num(self.reserved_usd),
            "remaining_usd": num(self.remaining_usd),
            "limit_tokens": b.limit_tokens,
            "spent_tokens": self.state.spent_tokens,
            "reserved_tokens": self.state.reserved_tokens,
            "resets_at": None if self.window.end is None else self.window.end.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class BudgetReservation:
    """Budget held for one flow; pass it back to `settle` or `release` (the first of them wins)."""

    id: str
    charges: tuple[Charge, ...]
    worst_case_usd: Decimal
    worst_case_tokens: int


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """Why a flow was refused (answer 402): the short budget as it stood, or the per-request cap."""

    budget: str  # a budget name, or PER_REQUEST
    requested_usd: Decimal
    requested_tokens: int
    charge: Charge | None = None  # None for the per-request cap
    per_request_max_usd: Decimal | None = None

    @property
    def resets_at(self) -> datetime | None:
        return None if self.charge is None else self.charge.window.end

    @property
    def message(self) -> str:
        need = f"this request needs up to {format_usd(self.requested_usd)} ({self.requested_tokens} tokens)"
        if self.charge is None:
            cap = format_usd(self.per_request_max_usd or Decimal(0))
            return f"{need}, above {PER_REQUEST} {cap}; lower max_tokens or shorten the prompt"
        resets = f"; resets at {self.resets_at.isoformat()}" if self.resets_at else ""
        return f"{self.charge.describe()}; {need}{resets}"

    def reason(self) -> Reason:
        return Reason(stage="budget", rule=self.budget, message=self.message)


@dataclass(frozen=True, slots=True)
class BudgetSettlement:
    """What a settle recorded: `cost_usd` is exactly what was stored (put this one in the audit record).

    `charges` hold each counter's state right after the settle (for metrics); `warnings` the ones whose
    spend crossed `warn_at` with this settle (add `X-Palaryn-Budget-Warning: <charge.describe()>`).
    """

    cost_usd: Decimal
    applied: bool  # False if this reservation was already settled or released
    charges: tuple[Charge, ...] = ()
    warnings: tuple[Charge, ...] = ()


# ---------------------------------------------------------------- engine


def _counter_key(budget: Budget, win: Window, value: str) -> str:
    # The scope value goes last: it may contain ':' and `status` lists counters by the prefix before it.
    return f"budget:{budget.name}:{win.id}" + (f":{value}" if budget.scope is not Scope.GLOBAL else "")


def _crossed(warn_at: Decimal | None, limit: int | None, before: int, after: int) -> bool:
    return warn_at is not None and limit is not None and before < warn_at * limit <= after


def _at_or_past_warn(c: Charge) -> bool:
    warn, limit = c.budget.warn_at, c.counter
    if warn is None:
        return False
    usd = limit.limit_nanos is not None and c.state.spent_nanos >= warn * limit.limit_nanos
    tokens = limit.limit_tokens is not None and c.state.spent_tokens >= warn * limit.limit_tokens
    return usd or tokens


class BudgetEngine:
    """Reserve, settle and release budget for flows; every applicable budget must admit a flow."""

    def __init__(self, config: BudgetConfig, storage: Storage) -> None:
        self.config = config
        self._storage = storage

    def _charge(self, budget: Budget, value: str, now: datetime | None) -> Charge:
        win = window(budget.period, self.config.timezone, now)
        end = win.end_timestamp
        counter = Counter(
            _counter_key(budget, win, value),
            None if budget.limit_usd is None else usd_to_nanos(budget.limit_usd, ROUND_DOWN),
            budget.limit_tokens,
            None if end is None else end + WINDOW_GRACE_SECONDS,
        )
        return Charge(budget, value, win, counter)

    def charges(self, identity: Identity, now: datetime | None = None) -> tuple[Charge, ...]:
        """The budget counters that apply to `identity` at `now` (pure; no storage access)."""
        found = ((b, b.value_for(identity)) for b in self.config.budgets)
        return tuple(self._charge(b, value, now) for b, value in found if value is not None)

    async def reserve(
        self,
        identity: Identity,
        worst_case_usd: Decimal,
        worst_case_tokens: int,
        *,
        now: datetime | None = None,
    ) -> BudgetReservation | BudgetRefusal:
        """Atomically hold the worst case on every applicable budget, or refuse naming the one that is short.

        Raises StorageError if the store is unreachable (the caller fails closed or open).
        """
        if worst_case_usd < 0 or worst_case_tokens < 0:
            raise ValueError("a reservation cannot be negative")
        cap = self.config.per_request_max_usd
        if cap is not None and worst_case_usd > cap:
            return BudgetRefusal(PER_REQUEST, worst_case_usd, worst_case_tokens, per_request_max_usd=cap)
        charges = self.charges(identity, now)
        rid = random_hex(16)
        if not charges:
            return BudgetReservation(rid, (), worst_case_usd, worst_case_tokens)
        nanos = usd_to_nanos(worst_case_usd, ROUND_UP)
        ttl = self.config.reservation_ttl_seconds
        result = await self._storage.reserve(rid, [c.counter for c in charges], nanos, worst_case_tokens, ttl)
        if not result.ok and result.blocked is None:
            raise StorageError(f"reservation id {rid} was already used")
        seen = tuple(replace(c, state=s) for c, s in zip(charges, result.states, strict=True))
        if result.ok:
            return BudgetReservation(rid, seen, worst_case_usd, worst_case_tokens)
        short = seen[result.blocked or 0]
        return BudgetRefusal(short.budget.name, nanos_to_usd(nanos), worst_case_tokens, short)

    async def settle(
        self, reservation: BudgetReservation, actual_usd: Decimal, actual_tokens: int
    ) -> BudgetSettlement:
        """Replace the hold with the actual cost (idempotent); reports the budgets that crossed `warn_at`."""
        if actual_usd < 0 or actual_tokens < 0:
            raise ValueError("an actual cost cannot be negative")
        nanos = usd_to_nanos(actual_usd)
        cost = nanos_to_usd(nanos)
        if not reservation.charges:
            return BudgetSettlement(cost, True)
        counters = [c.counter for c in reservation.charges]
        result = await self._storage.settle(reservation.id, counters, nanos, actual_tokens)
        if not result.applied:
            return BudgetSettlement(cost, False)
        after, warnings = [], []
        for charge, (spent_n, spent_t) in zip(reservation.charges, result.spent, strict=True):
            now = replace(charge, state=CounterState(spent_n, spent_t))
            after.append(now)
            warn, c = charge.budget.warn_at, charge.counter
            if _crossed(warn, c.limit_nanos, spent_n - nanos, spent_n) or _crossed(
                warn, c.limit_tokens, spent_t - actual_tokens, spent_t
            ):
                warnings.append(now)
        return BudgetSettlement(cost, True, tuple(after), tuple(warnings))

    async def release(self, reservation: BudgetReservation) -> bool:
        """Drop the hold without spending (nothing was billed); False if already settled or released."""
        if not reservation.charges:
            return True
        return await self._storage.release(reservation.id, [c.counter for c in reservation.charges])

    def remaining_usd(self, reservation: BudgetReservation) -> Decimal:
        """What this flow may spend in total before the tightest budget (or the per-request cap) runs out.

        A snapshot from reserve time that already includes this flow's own hold, so it is at least the
        worst case reserved; `Decimal('Infinity')` when no USD limit applies. Use it to cut a stream.
        """
        lefts = [n for n in (c.remaining_nanos() for c in reservation.charges) if n is not None]
        best = nanos_to_usd(max(min(lefts), 0)) if lefts else INFINITE
        cap = self.config.per_request_max_usd
        return best if cap is None else min(best, cap)

    def remaining_tokens(self, reservation: BudgetReservation) -> int | None:
        """Like `remaining_usd`, for budgets with `limit_tokens`; None when none applies."""
        lefts = [
            c.counter.limit_tokens - c.state.spent_tokens - c.state.reserved_tokens
            for c in reservation.charges
            if c.counter.limit_tokens is not None
        ]
        return max(min(lefts), 0) if lefts else None

    def above_warn_at(self, reservation: BudgetReservation) -> tuple[Charge, ...]:
        """Budgets whose settled spend was already at or past `warn_at` when this flow was admitted.

        For `X-Palaryn-Budget-Warning` on this flow's response headers (known before a stream starts);
        the crossing itself, to audit once, is `BudgetSettlement.warnings`.
        """
        return tuple(c for c in reservation.charges if _at_or_past_warn(c))

    # ------------------------------------------------------------ operator views (CLI)

    async def _current(self, budget: Budget, value: str | None, now: datetime | None) -> list[Charge]:
        """The current window's counters of `budget`: the one for `value`, or every stored one if None."""
        if budget.scope is Scope.GLOBAL:
            return [self._charge(budget, "", now)]
        if value is not None:
            return [self._charge(budget, value, now)] if budget.pattern.match(value) else []
        head = self._charge(budget, "", now).counter.key  # ends with ":" (scope value left empty)
        return [
            self._charge(budget, key[len(head) :], now) for key in sorted(await self._storage.counters(head))
        ]

    async def status(
        self,
        *,
        actor: str | None = None,
        workspace: str | None = None,
        task: str | None = None,
        now: datetime | None = None,
    ) -> list[Charge]:
        """Every budget's current-window counters with their state now (`Charge.to_dict()` for JSON).

        For a scoped budget without a given value, every value with a stored counter is listed.
        """
        given = {Scope.ACTOR: actor, Scope.WORKSPACE: workspace, Scope.TASK: task, Scope.GLOBAL: None}
        rows = []
        for b in self.config.budgets:
            for charge in await self._current(b, given[b.scope], now):
                rows.append(replace(charge, state=await self._storage.counter(charge.counter.key)))
        return rows

    async def reset(self, name: str, scope_value: str | None = None, *, now: datetime | None = None) -> int:
        """Zero a budget's current window (one scope value, or all of them); returns how many counters."""
        budget = next((b for b in self.config.budgets if b.name == name), None)
        if budget is None:
            known = ", ".join(b.name for b in self.config.budgets) or "none"
            raise ConfigError(f"budget {name!r} is not configured (configured: {known})")
        charges = await self._current(budget, scope_value, now)
        for charge in charges:
            await self._storage.reset(charge.counter.key)
        return len(charges)
