"""Rate limits: config forms and errors, per-scope request and token windows, refusals, token correction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.ratelimit import (
    RateLimiter,
    RateLimitRefusal,
    RateLimitTicket,
    RateScope,
    parse_rate_limit_config,
)
from palaryn_proxy.storage import Storage, open_storage
from palaryn_proxy.types import Identity

ALICE = Identity(actor="alice", workspace="ops")
BOB = Identity(actor="bob", workspace="ops")
HOST = "api.openai.com"


@pytest.fixture
async def store() -> AsyncIterator[Storage]:
    s = open_storage("memory://")
    yield s
    await s.close()


def limiter(store: Storage, rules: list[dict[str, Any]]) -> RateLimiter:
    return RateLimiter(parse_rate_limit_config({"rate_limits": rules}), store)


async def admitted(
    rl: RateLimiter, who: Identity = ALICE, host: str = HOST, tokens: int | None = None
) -> bool:
    return isinstance(await rl.check(who, host, tokens=tokens), RateLimitTicket)


def test_parse_forms() -> None:
    cfg = parse_rate_limit_config(
        {
            "rate_limits": [
                {"name": "rpm", "scope": "actor", "requests_per_minute": 60, "tokens_per_minute": 1000},
                {"scope": "host", "match": "*.openai.com", "requests": 5, "per": "second"},
                {"requests": 100, "per": 3600},
                {"scope": "workspace", "tokens_per_minute": 10, "requests_per_minute": None},
            ]
        }
    )
    rpm, host, hourly, tokens = cfg.rules
    assert (rpm.name, rpm.scope, rpm.requests, rpm.per_seconds, rpm.tokens_per_minute) == (
        "rpm",
        RateScope.ACTOR,
        60,
        60.0,
        1000,
    )
    assert (host.name, host.requests, host.per_seconds) == ("host-1", 5, 1.0)
    assert (hourly.scope, hourly.requests, hourly.per_seconds) == (RateScope.GLOBAL, 100, 3600.0)
    assert (tokens.requests, tokens.tokens_per_minute) == (None, 10)
    assert parse_rate_limit_config({}).rules == ()


@pytest.mark.parametrize(
    ("rule", "key", "hint"),
    [
        ({"scope": "actor"}, "rate_limits[0].requests_per_minute", "tokens_per_minute"),
        ({"scope": "user", "requests_per_minute": 1}, "rate_limits[0].scope", "host"),
        ({"requests_per_minute": 0}, "rate_limits[0].requests_per_minute", "above 0"),
        ({"requests_per_minute": 5, "requests": 5}, "rate_limits[0].requests", "not both"),
        ({"per": "minute"}, "rate_limits[0].requests", "needs `requests`"),
        ({"requests": 5, "per": "fortnight"}, "rate_limits[0].per", "number of seconds"),
        ({"requests": 5, "per": -1}, "rate_limits[0].per", "number of seconds"),
        ({"tokens_per_minute": "many"}, "rate_limits[0].tokens_per_minute", "whole number"),
        ({"requests_per_minute": 1, "match": "a*"}, "rate_limits[0].match", "pick a scope"),
        ({"requests_per_minute": 1, "name": "a/b"}, "rate_limits[0].name", "letters"),
        ({"requests_per_minute": 1, "rpm": 1}, "rate_limits[0].rpm", "allowed"),
        ("60/min", "rate_limits[0]", "mapping"),
    ],
)
def test_config_errors_name_the_key(rule: Any, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rate_limit_config({"rate_limits": [rule]})
    assert str(info.value).startswith(key + ":") and hint in str(info.value)


def test_duplicate_names_and_non_list() -> None:
    with pytest.raises(ConfigError, match=r"rate_limits\[1\]\.name: duplicate"):
        parse_rate_limit_config({"rate_limits": [{"name": "a", "requests_per_minute": 1}] * 2})
    with pytest.raises(ConfigError, match="rate_limits: expected a list"):
        parse_rate_limit_config({"rate_limits": {"requests_per_minute": 1}})


async def test_requests_per_actor_with_retry_after(store: Storage) -> None:
    rl = limiter(store, [{"name": "rpm", "scope": "actor", "requests_per_minute": 3}])
    assert [await admitted(rl) for _ in range(3)] == [True, True, True]
    refusal = await rl.check(ALICE, HOST)
    assert isinstance(refusal, RateLimitRefusal)
    assert (refusal.rule, refusal.kind, refusal.scope, refusal.scope_value, refusal.limit) == (
        "rpm",
        "requests",
        "actor",
        "alice",
        3,
    )
    assert 59 <= refusal.retry_after_seconds <= 60
    assert "rate limit 'rpm': 3 requests per 60s for actor 'alice' reached; retry after" in refusal.message
    assert refusal.reason().stage == "ratelimit" and refusal.reason().rule == "rpm"
    assert await admitted(rl, BOB)  # bob has his own window


async def test_host_scope_matches_glob_case_insensitively(store: Storage) -> None:
    rl = limiter(store, [{"scope": "host", "match": "*.openai.com", "requests": 1, "per": "hour"}])
    assert await admitted(rl, host="API.OpenAI.com")
    assert not await admitted(rl, BOB, host="api.openai.com")  # per host, shared by every actor
    assert await admitted(rl, host="api.anthropic.com")  # rule does not apply


async def test_tokens_per_minute_estimate_then_correct(store: Storage) -> None:
    rl = limiter(store, [{"name": "tpm", "scope": "workspace", "tokens_per_minute": 1000}])
    ticket = await rl.check(ALICE, HOST, tokens=600)
    assert isinstance(ticket, RateLimitTicket)
    refusal = await rl.check(BOB, HOST, tokens=600)  # same workspace
    assert isinstance(refusal, RateLimitRefusal) and refusal.kind == "tokens"
    await rl.settle(ticket, 100)  # the request used far fewer tokens than estimated
    assert await admitted(rl, BOB, tokens=900)
    assert not await admitted(rl, BOB, tokens=1)
    assert await admitted(rl, BOB)  # non-LLM flows (tokens=None) skip token rules


async def test_refused_check_consumes_nothing(store: Storage) -> None:
    rl = limiter(store, [{"scope": "actor", "requests_per_minute": 2, "tokens_per_minute": 100}])
    assert isinstance(await rl.check(ALICE, HOST, tokens=150), RateLimitRefusal)
    assert await admitted(rl, tokens=50)
    assert await admitted(rl, tokens=50)  # both requests still available: the refusal took none


async def test_request_larger_than_the_limit(store: Storage) -> None:
    rl = limiter(store, [{"name": "tpm", "tokens_per_minute": 100}])
    refusal = await rl.check(ALICE, HOST, tokens=101)
    assert isinstance(refusal, RateLimitRefusal) and refusal.retry_after_seconds == 60
    assert "needs 101 tokens, more than the 100 allowed" in refusal.message


async def test_every_matching_rule_applies(store: Storage) -> None:
    rl = limiter(
        store,
        [
            {"name": "everyone", "requests_per_minute": 3},
            {"name": "per-actor", "scope": "actor", "requests_per_minute": 2},
        ],
    )
    assert await admitted(rl) and await admitted(rl)
    first = await rl.check(ALICE, HOST)
    assert isinstance(first, RateLimitRefusal) and first.rule == "per-actor"
    assert await admitted(rl, BOB)
    second = await rl.check(BOB, HOST)
    assert isinstance(second, RateLimitRefusal) and second.rule == "everyone"
    assert "for everyone" in second.message


async def test_no_rules_never_touch_storage(tmp_path: Path) -> None:
    store = open_storage(f"sqlite://{tmp_path}/r.db")
    await store.close()
    assert await admitted(limiter(store, []), tokens=5)
    rl = limiter(store, [{"scope": "task", "requests_per_minute": 1}])
    assert await admitted(rl)  # ALICE has no task: the task rule does not apply
    with pytest.raises(StorageError):
        await rl.check(Identity("a", "w", task="t"), HOST)
