"""Admission of one call: its rate-limit check and its budget reservation, made together, decided in order.

`admit` starts both storage calls at once (on Redis they share one round trip's wait) and then decides as if
the rate limit had run alone first: a rate refusal (or its storage failing closed) wins and the reservation is
released; otherwise the budget answers. A storage failure under `fail_mode: open` lets its check through and is
reported in `unchecked`. Either check may be absent (no limiter, no budgets).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from palaryn_proxy.budget.engine import BudgetEngine, BudgetRefusal, BudgetReservation
from palaryn_proxy.errors import StorageError
from palaryn_proxy.ratelimit import RateLimiter, RateLimitRefusal, RateLimitTicket
from palaryn_proxy.types import Identity

Check = Literal["ratelimit", "budget"]


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A check whose storage was unreachable, let through because `fail_mode` is open."""

    check: Check
    error: StorageError


@dataclass(frozen=True, slots=True)
class Admitted:
    """The call may go upstream: correct `rate_ticket` and settle `reservation` when it ends."""

    rate_ticket: RateLimitTicket | None = None  # None: no limiter, or its storage failed open
    reservation: BudgetReservation | None = None  # None: no budgets, or their storage failed open
    unchecked: tuple[Unchecked, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """The call is refused by `check`: 429 for a rate refusal, 402 for a budget one, storage unavailable."""

    check: Check
    cause: RateLimitRefusal | BudgetRefusal | StorageError
    rate_ticket: RateLimitTicket | None = (
        None  # the rate limit admitted before the budget refused: correct it
    )
    unchecked: tuple[Unchecked, ...] = ()


async def admit(
    limiter: RateLimiter | None,
    budgets: BudgetEngine | None,
    identity: Identity,
    host: str,
    *,
    tokens: int | None = None,
    worst_usd: Decimal = Decimal(0),
    worst_tokens: int = 0,
    fail_open: bool,
) -> Admitted | Refused:
    """Check the rate limits (`tokens` estimated LLM tokens; None skips token rules) and reserve the worst
    case on the budgets, concurrently; the rate limit answers first. Errors other than StorageError are
    raised, after releasing a reservation the call got."""
    rate, hold = await asyncio.gather(
        limiter.check(identity, host, tokens=tokens) if limiter is not None else _skip(),
        budgets.reserve(identity, worst_usd, worst_tokens) if budgets is not None else _skip(),
        return_exceptions=True,
    )
    reservation = hold if isinstance(hold, BudgetReservation) else None
    for answer in (rate, hold):
        if isinstance(answer, BaseException) and not isinstance(answer, StorageError):
            await _release(budgets, reservation)
            raise answer
    unchecked: list[Unchecked] = []
    if isinstance(rate, RateLimitRefusal) or (isinstance(rate, StorageError) and not fail_open):
        await _release(budgets, reservation)
        return Refused("ratelimit", rate)
    if isinstance(rate, StorageError):
        unchecked.append(Unchecked("ratelimit", rate))
    ticket = rate if isinstance(rate, RateLimitTicket) else None
    if isinstance(hold, BudgetRefusal) or (isinstance(hold, StorageError) and not fail_open):
        return Refused("budget", hold, ticket, tuple(unchecked))
    if isinstance(hold, StorageError):
        unchecked.append(Unchecked("budget", hold))
    return Admitted(ticket, reservation, tuple(unchecked))


async def _skip() -> None:
    return None


async def _release(budgets: BudgetEngine | None, reservation: BudgetReservation | None) -> None:
    if budgets is None or reservation is None:
        return
    try:
        await budgets.release(reservation)
    except StorageError:
        pass  # the hold expires after budget_reservation_ttl_seconds
