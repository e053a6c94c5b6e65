"""Budget configuration: the `budgets` list, `per_request_max_usd`, `timezone` and the reservation TTL,
parsed once into frozen values (errors name the key and the fix)."""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from palaryn_proxy.budget.periods import Period
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.storage.base import MAX_NANOS, nanos_to_usd
from palaryn_proxy.types import Identity

INFINITE = Decimal("Infinity")
MAX_USD = nanos_to_usd(MAX_NANOS)
PER_REQUEST = "per_request_max_usd"  # the `budget` named by a refusal from the per-request cap
# Counters outlive their window a little, so a settle that lands just after the boundary is not lost.
WINDOW_GRACE_SECONDS = 300.0
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_BUDGET_KEYS = ("name", "scope", "match", "period", "limit_usd", "limit_tokens", "warn_at")


class Scope(enum.StrEnum):
    GLOBAL = "global"
    WORKSPACE = "workspace"
    ACTOR = "actor"
    TASK = "task"


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    scope: Scope
    match: str
    period: Period
    limit_usd: Decimal | None
    limit_tokens: int | None
    warn_at: Decimal | None
    pattern: re.Pattern[str] = field(repr=False, compare=False)

    def value_for(self, identity: Identity) -> str | None:
        """The scope value this budget counts `identity` under, or None if it does not apply."""
        if self.scope is Scope.GLOBAL:
            return ""
        value = {Scope.ACTOR: identity.actor, Scope.WORKSPACE: identity.workspace, Scope.TASK: identity.task}[
            self.scope
        ]
        return value if value is not None and self.pattern.match(value) else None


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    budgets: tuple[Budget, ...] = ()
    per_request_max_usd: Decimal | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    reservation_ttl_seconds: float = 900.0


def format_usd(amount: Decimal) -> str:
    """`$1.50`, `$0.000123`, `unlimited`: short, exact to the micro-dollar, for messages."""
    if amount.is_infinite():
        return "unlimited"
    q = amount.quantize(Decimal("0.000001")).normalize()
    return f"${q:.2f}" if q == q.quantize(Decimal("0.01")) else f"${q:f}"


# ---------------------------------------------------------------- config


def _usd(value: Any, key: str) -> Decimal:
    try:
        amount = (
            Decimal(str(value))
            if isinstance(value, int | float | str) and not isinstance(value, bool)
            else None
        )
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ConfigError(f"{key}: expected an amount in USD such as 5 or '0.50', got {value!r}")
    if amount > MAX_USD:
        raise ConfigError(f"{key}: {amount} is above the largest storable amount, {MAX_USD:f} USD")
    return amount


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}: expected a whole number above 0, got {value!r}")
    return value


def _choice[E: enum.StrEnum](kind: type[E], value: Any, key: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = " | ".join(m.value for m in kind)
        raise ConfigError(f"{key}: expected one of {allowed}, got {value!r}") from None


def _parse_budget(item: Any, where: str) -> Budget:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with scope, period and limit_usd")
    for key in item:
        if key not in _BUDGET_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(_BUDGET_KEYS)}")
    scope = _choice(Scope, item.get("scope", "global"), f"{where}.scope")
    if "period" not in item:
        raise ConfigError(f"{where}.period: missing; add period: hour | day | week | month | total")
    period = _choice(Period, item["period"], f"{where}.period")
    raw_usd, raw_tokens = item.get("limit_usd"), item.get("limit_tokens")
    limit_usd = None if raw_usd is None else _usd(raw_usd, f"{where}.limit_usd")
    limit_tokens = None if raw_tokens is None else _count(raw_tokens, f"{where}.limit_tokens")
    if limit_usd is None and limit_tokens is None:
        raise ConfigError(f"{where}.limit_usd: missing; set limit_usd (and/or limit_tokens)")
    warn_at = None
    if item.get("warn_at") is not None:
        warn_at = _usd(item["warn_at"], f"{where}.warn_at")
        if not 0 < warn_at <= 1:
            raise ConfigError(f"{where}.warn_at: expected a fraction of the limit such as 0.8, got {warn_at}")
    match = item.get("match") or "*"
    if not isinstance(match, str) or not match:
        raise ConfigError(f"{where}.match: expected a glob such as 'team-*', got {match!r}")
    if scope is Scope.GLOBAL and match != "*":
        raise ConfigError(
            f"{where}.match: a global budget has no value to match; remove match or pick a scope"
        )
    name = item.get("name") or f"{scope}-{period}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name: use letters, digits, '_', '.' or '-' (got {name!r})")
    pattern = re.compile(fnmatch.translate(match))
    return Budget(name, scope, match, period, limit_usd, limit_tokens, warn_at, pattern)


def parse_budget_config(raw: Mapping[str, Any]) -> BudgetConfig:
    """Parse `budgets`, `per_request_max_usd`, `timezone` and `budget_reservation_ttl_seconds` from the config."""
    items = raw.get("budgets") or []
    if not isinstance(items, list):
        raise ConfigError("budgets: expected a list of budgets (each with scope, period, limit_usd)")
    budgets = tuple(_parse_budget(item, f"budgets[{i}]") for i, item in enumerate(items))
    seen: set[str] = set()
    for i, b in enumerate(budgets):
        if b.name in seen:
            raise ConfigError(
                f"budgets[{i}].name: duplicate budget name {b.name!r}; give each budget a unique name"
            )
        seen.add(b.name)
    cap = raw.get(PER_REQUEST)
    tz_name = raw.get("timezone", "UTC")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"timezone: unknown time zone {tz_name!r}; use an IANA name such as 'Europe/Berlin'"
        ) from None
    ttl = raw.get("budget_reservation_ttl_seconds", 900)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ConfigError(f"budget_reservation_ttl_seconds: expected seconds above 0, got {ttl!r}")
    return BudgetConfig(budgets, None if cap is None else _usd(cap, PER_REQUEST), tz, float(ttl))
