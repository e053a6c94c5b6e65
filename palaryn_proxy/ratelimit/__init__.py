"""Rate-limit stage engine: requests and LLM tokens per sliding window, per actor, workspace, task or host."""

from palaryn_proxy.ratelimit.limiter import (
    RateLimitConfig,
    RateLimiter,
    RateLimitRefusal,
    RateLimitTicket,
    RateRule,
    RateScope,
    parse_rate_limit_config,
)

__all__ = [
    "RateLimitConfig",
    "RateLimitRefusal",
    "RateLimitTicket",
    "RateLimiter",
    "RateRule",
    "RateScope",
    "parse_rate_limit_config",
]
