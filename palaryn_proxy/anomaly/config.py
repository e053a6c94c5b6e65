"""Parse the `anomaly:` config section once into a frozen AnomalyConfig; every error names the key and the fix."""

from __future__ import annotations

import math
import re
import types
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.anomaly.alerts import Action, AnomalyType
from palaryn_proxy.errors import ConfigError

ENTITY_KINDS = ("actor", "tool", "workspace")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {name: i for names in (_DAYS, _FULL_DAYS) for i, name in enumerate(names)}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_KEYS = (
    "enabled",
    "window_seconds",
    "bucket_seconds",
    "min_samples",
    "z_score_threshold",
    "repeat_threshold",
    "repeat_window_seconds",
    "entities",
    "max_entities",
    "max_alerts",
    "min_payload_bytes",
    "working_hours",
    "actions",
    "persist",
    "persist_interval_seconds",
    "webhook_url",
    "webhook_max_per_minute",
)
_HOURS_KEYS = ("timezone", "start", "end", "days")


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Local working time: minutes since midnight [start, end) on `days` (0 = Monday) in `timezone`.
    start > end is an overnight shift (22:00-06:00)."""

    timezone: zoneinfo.ZoneInfo
    start_minute: int
    end_minute: int
    days: frozenset[int]

    def is_working(self, weekday: int, minute_of_day: int) -> bool:
        if weekday not in self.days:
            return False
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute_of_day < self.end_minute
        return minute_of_day >= self.start_minute or minute_of_day < self.end_minute


def _default_actions() -> Mapping[AnomalyType, Action]:
    return types.MappingProxyType({t: Action.LOG for t in AnomalyType})


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    enabled: bool = True
    window_seconds: int = 3600
    bucket_seconds: int = 60
    min_samples: int = 10
    z_score_threshold: float = 3.0
    repeat_threshold: int = 10
    repeat_window_seconds: float = 60.0
    entities: frozenset[str] = frozenset(ENTITY_KINDS)
    max_entities: int = 20_000
    max_alerts: int = 1_000
    min_payload_bytes: int = 1024
    working_hours: WorkingHours | None = None
    actions: Mapping[AnomalyType, Action] = field(default_factory=_default_actions)
    persist: bool = True  # baselines saved to the storage backend and restored at start
    persist_interval_seconds: int = 60
    webhook_url: str | None = None  # JSON POST of each first alert
    webhook_max_per_minute: int = 10

    def action(self, kind: AnomalyType) -> Action:
        return self.actions.get(kind, Action.LOG)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AnomalyConfig:
        """Validate the `anomaly:` section (None or {} gives every default)."""
        return parse_config(data)


def parse_config(data: Mapping[str, Any] | None) -> AnomalyConfig:
    if data is None:
        return AnomalyConfig()
    if not isinstance(data, Mapping):
        raise ConfigError(
            "anomaly must be a mapping of settings; fix: write `anomaly:` followed by indented keys"
        )
    _reject_unknown("anomaly", data, _KEYS)
    d = AnomalyConfig()
    cfg = AnomalyConfig(
        enabled=_bool(data, "enabled", d.enabled),
        window_seconds=_int(data, "window_seconds", d.window_seconds, 1),
        bucket_seconds=_int(data, "bucket_seconds", d.bucket_seconds, 1),
        min_samples=_int(data, "min_samples", d.min_samples, 1),
        z_score_threshold=_positive_float(data, "z_score_threshold", d.z_score_threshold),
        repeat_threshold=_int(data, "repeat_threshold", d.repeat_threshold, 2),
        repeat_window_seconds=_positive_float(data, "repeat_window_seconds", d.repeat_window_seconds),
        entities=_entities(data.get("entities", list(ENTITY_KINDS))),
        max_entities=_int(data, "max_entities", d.max_entities, 1),
        max_alerts=_int(data, "max_alerts", d.max_alerts, 1),
        min_payload_bytes=_int(data, "min_payload_bytes", d.min_payload_bytes, 0),
        working_hours=_working_hours(data.get("working_hours")),
        actions=_actions(data.get("actions")),
        persist=_bool(data, "persist", d.persist),
        persist_interval_seconds=_int(data, "persist_interval_seconds", d.persist_interval_seconds, 1),
        webhook_url=_webhook_url(data.get("webhook_url")),
        webhook_max_per_minute=_int(data, "webhook_max_per_minute", d.webhook_max_per_minute, 1),
    )
    if cfg.window_seconds < cfg.bucket_seconds * cfg.min_samples:
        raise ConfigError(
            f"anomaly.window_seconds ({cfg.window_seconds}) must hold at least min_samples ({cfg.min_samples}) "
            f"buckets of bucket_seconds ({cfg.bucket_seconds}), or rate spikes can never fire; "
            f"fix: raise window_seconds to {cfg.bucket_seconds * cfg.min_samples} or lower bucket_seconds"
        )
    return cfg


def _reject_unknown(prefix: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{prefix}.{key} is not a known key; fix: remove it or use one of {', '.join(known)}"
            )


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"anomaly.{key} must be true or false, got {value!r}; fix: write {key}: true")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"anomaly.{key} must be an integer >= {minimum}, got {value!r}; fix: e.g. {key}: {max(default, minimum)}"
        )
    return value


def _positive_float(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"anomaly.{key} must be a number > 0, got {value!r}; fix: e.g. {key}: {default:g}")
    return float(value)


def _webhook_url(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"anomaly.webhook_url must be an http:// or https:// URL, got {value!r}; "
            "fix: e.g. webhook_url: https://alerts.example.com/palaryn"
        )
    return value


def _entities(value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(
            f"anomaly.entities must be a list drawn from {list(ENTITY_KINDS)}, got {value!r}; "
            "fix: e.g. entities: [actor, tool]"
        )
    for kind in value:
        if kind not in ENTITY_KINDS:
            raise ConfigError(
                f"anomaly.entities has unknown kind {kind!r}; fix: use only {', '.join(ENTITY_KINDS)}"
            )
    return frozenset(value)


def _actions(value: Any) -> Mapping[AnomalyType, Action]:
    actions = dict(_default_actions())
    if value is None:
        return types.MappingProxyType(actions)
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"anomaly.actions must map anomaly types to log, flag, block or off, got {value!r}; "
            "fix: e.g. actions: {request_rate_spike: block}"
        )
    valid = {a.value for a in Action}
    for name, action in value.items():
        if name not in AnomalyType.__members__.values():
            raise ConfigError(
                f"anomaly.actions.{name} is not an anomaly type; fix: use one of {', '.join(AnomalyType)}"
            )
        if action is False:  # YAML 1.1 reads a bare `off` as false
            action = "off"
        if action not in valid:
            raise ConfigError(
                f"anomaly.actions.{name} must be log, flag, block or off, got {action!r}; fix: e.g. {name}: log"
            )
        actions[AnomalyType(name)] = Action(action)
    return types.MappingProxyType(actions)


def _working_hours(value: Any) -> WorkingHours | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(
            "anomaly.working_hours must be a mapping with timezone, start, end and days; "
            'fix: e.g. working_hours: {timezone: Europe/Warsaw, start: "09:00", end: "18:00"}'
        )
    _reject_unknown("anomaly.working_hours", value, _HOURS_KEYS)
    start = _hhmm(value.get("start", "09:00"), "start")
    end = _hhmm(value.get("end", "18:00"), "end")
    if start == end:
        raise ConfigError(
            "anomaly.working_hours.start equals end; fix: give a non-empty range or remove working_hours"
        )
    return WorkingHours(_zone(value.get("timezone", "UTC")), start, end, _days(value.get("days")))


def _hhmm(value: Any, key: str) -> int:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        hint = " (YAML reads an unquoted 18:00 as the number 1080)" if isinstance(value, int) else ""
        raise ConfigError(
            f'anomaly.working_hours.{key} must be a quoted "HH:MM" string, got {value!r}{hint}; '
            f'fix: e.g. {key}: "09:00"'
        )
    return int(match.group(1)) * 60 + int(match.group(2))


def _zone(value: Any) -> zoneinfo.ZoneInfo:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"anomaly.working_hours.timezone must be an IANA zone name, got {value!r}; fix: e.g. UTC"
        )
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"anomaly.working_hours.timezone {value!r} is not a known IANA zone; fix: e.g. Europe/Warsaw or UTC"
        ) from exc


def _days(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset(range(5))
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ConfigError(
            f"anomaly.working_hours.days must be a non-empty list of day names, got {value!r}; "
            "fix: e.g. days: [mon, tue, wed, thu, fri]"
        )
    days = set()
    for day in value:
        index = _DAY_NAMES.get(day.lower()) if isinstance(day, str) else None
        if index is None:
            raise ConfigError(
                f"anomaly.working_hours.days has unknown day {day!r}; fix: use {', '.join(_DAYS)}"
            )
        days.add(index)
    return frozenset(days)
