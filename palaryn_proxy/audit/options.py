"""The `audit` section: how durable each record is before its response leaves (see audit/log.py)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError


class AuditDurability(enum.StrEnum):
    BATCHED = "batched"  # records reach the file within audit BATCH_SECONDS of the flow's end
    ACKNOWLEDGED = "acknowledged"  # a response is released only once its record is written


@dataclass(frozen=True, slots=True)
class AuditOptions:
    durability: AuditDurability = AuditDurability.BATCHED
    fsync: bool = False


def parse_audit_options(raw: Mapping[str, Any], legacy_fsync: bool = False) -> AuditOptions:
    """Validate the `audit` section (`audit_fsync: true` is the older spelling of `audit.fsync`)."""
    for key in raw:
        if key not in ("durability", "fsync"):
            raise ConfigError(f"`audit.{key}` is not a known key; known keys: durability, fsync")
    durability = raw.get("durability", AuditDurability.BATCHED.value)
    if durability not in [d.value for d in AuditDurability]:
        raise ConfigError(
            f"`audit.durability` must be batched or acknowledged, got {durability!r} "
            "(acknowledged: no response before its audit record is written)"
        )
    fsync = raw.get("fsync", False)
    if not isinstance(fsync, bool):
        raise ConfigError(f"`audit.fsync` must be true or false, got {fsync!r}")
    return AuditOptions(AuditDurability(durability), fsync or legacy_fsync)
