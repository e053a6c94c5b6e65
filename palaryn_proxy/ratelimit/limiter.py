"""Rate limits: requests and LLM tokens per sliding window, per actor, workspace, task or host, or global.

Config (top level of the proxy config); none apply unless configured:

    rate_limits:
      - name: actor-rpm            # unique, [A-Za-z0-9_.-]; default "<scope>-<index>"
        scope: actor               # global | workspace | actor | task | host (default global)
        match: "*"                 # glob on the scope's value (default "*"); not for global
        requests_per_minute: 60    # or requests: 10 with per: second | minute | hour | day | <seconds>
        tokens_per_minute: 100000  # LLM tokens: the estimate is charged up front, corrected by settle()

The window is a sliding log, exact at its edges: at most N requests in ANY interval of the window's
length, never 2N around a boundary. Each rule with a value keeps a separate window per value. All rules
that apply to a flow are checked atomically: a refused flow consumes nothing. Storage failures raise
StorageError: the caller picks fail open/closed.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.storage.base import Bucket, Storage
from palaryn_proxy.types import Identity, Reason

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_PER = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_KEYS = ("name", "scope", "match", "requests_per_minute", "tokens_per_minute", "requests", "per")
TOKEN_WINDOW_SECONDS = 60.0


class RateScope(enum.StrEnum):
    GLOBAL = "global"
    WORKSPACE = "workspace"
    ACTOR = "actor"
    TASK = "task"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class RateRule:
    name: str
    scope: RateScope
    match: str
    requests: int | None
    per_seconds: float
    tokens_per_minute: int | None
    pattern: re.Pattern[str] = field(repr=False, compare=False)

    def value_for(self, identity: Identity, host: str) -> str | None:
        """The scope value this rule counts a flow under, or None if the rule does not apply."""
        if self.scope is RateScope.GLOBAL:
            return ""
        value = {
            RateScope.ACTOR: identity.actor,
            RateScope.WORKSPACE: identity.workspace,
            RateScope.TASK: identity.task,
            RateScope.HOST: host.lower(),
        }[self.scope]
        return value if value is not None and self.pattern.match(value) else None


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    rules: tuple[RateRule, ...] = ()


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}: expected a whole number above 0, got {value!r}")
    return value


def _per(value: Any, key: str) -> float:
    if isinstance(value, str) and value in _PER:
        return _PER[value]
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ConfigError(f"{key}: expected second | minute | hour | day or a number of seconds, got {value!r}")


def _requests(item: Mapping[str, Any], where: str) -> tuple[int | None, float]:
    if item.get("requests_per_minute") is not None:
        if item.get("requests") is not None or item.get("per") is not None:
            raise ConfigError(f"{where}.requests: use either requests_per_minute or requests + per, not both")
        return _count(item["requests_per_minute"], f"{where}.requests_per_minute"), 60.0
    if item.get("requests") is None:
        if item.get("per") is not None:
            raise ConfigError(f"{where}.requests: missing; `per` needs `requests`, e.g. requests: 10")
        return None, 60.0
    return _count(item["requests"], f"{where}.requests"), _per(item.get("per", "minute"), f"{where}.per")


def _parse_rule(item: Any, where: str, index: int) -> RateRule:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with scope and requests_per_minute")
    for key in item:
        if key not in _KEYS:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(_KEYS)}")
    try:
        scope = RateScope(item.get("scope", "global"))
    except ValueError:
        allowed = " | ".join(s.value for s in RateScope)
        raise ConfigError(f"{where}.scope: expected one of {allowed}, got {item.get('scope')!r}") from None
    requests, per = _requests(item, where)
    tpm = item.get("tokens_per_minute")
    tokens = None if tpm is None else _count(tpm, f"{where}.tokens_per_minute")
    if requests is None and tokens is None:
        raise ConfigError(
            f"{where}.requests_per_minute: missing; set requests_per_minute and/or tokens_per_minute"
        )
    match = item.get("match") or "*"
    if not isinstance(match, str):
        raise ConfigError(f"{where}.match: expected a glob such as 'bot-*', got {match!r}")
    if scope is RateScope.GLOBAL and match != "*":
        raise ConfigError(f"{where}.match: a global rule has no value to match; remove match or pick a scope")
    name = item.get("name") or f"{scope}-{index}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name: use letters, digits, '_', '.' or '-' (got {name!r})")
    return RateRule(name, scope, match, requests, per, tokens, re.compile(fnmatch.translate(match)))


def parse_rate_limit_config(raw: Mapping[str, Any]) -> RateLimitConfig:
    """Parse the `rate_limits` list from the whole config (absent: no limits)."""
    items = raw.get("rate_limits") or []
    if not isinstance(items, list):
        raise ConfigError("rate_limits: expected a list of rules (each with scope and requests_per_minute)")
    rules = tuple(_parse_rule(item, f"rate_limits[{i}]", i) for i, item in enumerate(items))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise ConfigError(
                f"rate_limits[{i}].name: duplicate rule name {rule.name!r}; give each a unique name"
            )
        seen.add(rule.name)
    return RateLimitConfig(rules)


@dataclass(frozen=True, slots=True)
class RateLimitRefusal:
    """A flow over a rate limit: answer 429 with `Retry-After: retry_after_seconds`."""

    rule: str
    kind: str  # "requests" | "tokens"
    scope: str
    scope_value: str
    limit: int
    window_seconds: float
    retry_after_seconds: int  # whole seconds, at least 1 (the Retry-After header value)
    cost: int = 1

    @property
    def message(self) -> str:
        who = f"{self.scope} {self.scope_value!r}" if self.scope_value else "everyone"
        if self.cost > self.limit:
            return (
                f"rate limit {self.rule!r}: this request needs {self.cost} {self.kind}, more than the "
                f"{self.limit} allowed per {self.window_seconds:g}s for {who}; make it smaller"
            )
        return (
            f"rate limit {self.rule!r}: {self.limit} {self.kind} per {self.window_seconds:g}s for {who} "
            f"reached; retry after {self.retry_after_seconds}s"
        )

    def reason(self) -> Reason:
        return Reason(stage="ratelimit", rule=self.rule, message=self.message)


@dataclass(frozen=True, slots=True)
class RateLimitTicket:
    """An admitted flow; pass it to `settle` with the actual token count to correct the token windows."""

    stamp: float
    token_buckets: tuple[Bucket, ...] = ()


@dataclass(frozen=True, slots=True)
class _Slot:
    rule: RateRule
    kind: str
    value: str
    bucket: Bucket


class RateLimiter:
    """Check every applicable rate-limit rule for a flow in one atomic storage call."""

    def __init__(self, config: RateLimitConfig, storage: Storage) -> None:
        self.config = config
        self._storage = storage

    def _slots(self, identity: Identity, host: str, tokens: int | None) -> list[_Slot]:
        slots = []
        for rule in self.config.rules:
            value = rule.value_for(identity, host)
            if value is None:
                continue
            key = f"rate:{rule.name}:%s" + (f":{value}" if rule.scope is not RateScope.GLOBAL else "")
            if rule.requests is not None:
                slots.append(
                    _Slot(rule, "requests", value, Bucket(key % "req", rule.requests, rule.per_seconds))
                )
            if rule.tokens_per_minute is not None and tokens is not None:
                bucket = Bucket(key % "tok", rule.tokens_per_minute, TOKEN_WINDOW_SECONDS, tokens)
                slots.append(_Slot(rule, "tokens", value, bucket))
        return slots

    async def check(
        self, identity: Identity, host: str, *, tokens: int | None = None
    ) -> RateLimitTicket | RateLimitRefusal:
        """Admit one request (and `tokens` estimated LLM tokens, for LLM flows) or refuse it.

        `tokens=None` (a non-LLM flow) skips the token rules. Raises StorageError if the store is down.
        """
        slots = self._slots(identity, host, tokens)
        if not slots:
            return RateLimitTicket(0.0)
        result = await self._storage.hit([s.bucket for s in slots])
        if result.allowed:
            return RateLimitTicket(result.stamp, tuple(s.bucket for s in slots if s.kind == "tokens"))
        slot = slots[result.blocked or 0]
        b = slot.bucket
        wait = max(math.ceil(result.retry_after_seconds), 1)
        return RateLimitRefusal(
            slot.rule.name,
            slot.kind,
            slot.rule.scope.value,
            slot.value,
            b.limit,
            b.window_seconds,
            wait,
            b.cost,
        )

    async def settle(self, ticket: RateLimitTicket, actual_tokens: int) -> None:
        """Replace the estimated tokens charged at `check` by the actual count (no-op without token rules)."""
        for b in ticket.token_buckets:
            if actual_tokens != b.cost:
                await self._storage.correct(b.key, b.window_seconds, ticket.stamp, actual_tokens - b.cost)
