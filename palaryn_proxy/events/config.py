"""The `events` config section: where the event store lives, how long it keeps flows, whether it is on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

DEFAULT_URL = "sqlite://events.db"
DEFAULT_RETENTION_DAYS = 30.0
_KNOWN = ("url", "retention_days", "enabled")
SCHEMES = ("sqlite://", "postgresql://", "postgres://")


@dataclass(frozen=True)
class EventsConfig:
    """`url`: sqlite:///PATH (or sqlite://relative/path) or postgresql://user@host:port/db."""

    url: str = DEFAULT_URL
    retention_days: float = DEFAULT_RETENTION_DAYS
    enabled: bool = True


def parse_events_config(values: Mapping[str, Any], default: str | None = None) -> EventsConfig:
    """Validate `values["events"]` (absent = defaults); errors name `events.<key>` and the fix.

    Without `events.url` the store is `default` (the runtime passes events.db beside the budget store),
    else sqlite://events.db in the working directory."""
    raw = values.get("events") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"`events` must be a mapping like {{url: sqlite:///var/lib/palaryn/events.db}}, got {raw!r:.60}"
        )
    for key in raw:
        if key not in _KNOWN:
            raise ConfigError(f"`events.{key}` is not a known key; known keys: {', '.join(_KNOWN)}")
    url = raw.get("url", default if default is not None else DEFAULT_URL)
    if not isinstance(url, str) or not url.startswith(SCHEMES) or url in SCHEMES:
        raise ConfigError(
            f"`events.url` must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {url!r:.80}"
        )
    days = raw.get("retention_days", DEFAULT_RETENTION_DAYS)
    if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
        raise ConfigError(
            f"`events.retention_days` must be a positive number of days (e.g. 30), got {days!r:.40}"
        )
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"`events.enabled` must be true or false, got {enabled!r:.40}")
    return EventsConfig(url=url, retention_days=float(days), enabled=enabled)
