"""The `audit` section: how durable each record is before its response leaves (see audit/log.py), and the
signed checkpoints of the chain head (see audit/checkpoint.py)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

_KNOWN = ("durability", "fsync", "signing_key", "checkpoint_seconds", "checkpoint_file", "checkpoint_url")
DEFAULT_CHECKPOINT_SECONDS = 60.0


class AuditDurability(enum.StrEnum):
    BATCHED = "batched"  # records reach the file within audit BATCH_SECONDS of the flow's end
    ACKNOWLEDGED = "acknowledged"  # a response is released only once its record is written


@dataclass(frozen=True, slots=True)
class AuditOptions:
    durability: AuditDurability = AuditDurability.BATCHED
    fsync: bool = False
    signing_key: str | None = None  # an Ed25519 PEM file (created on first use); set = checkpoints on
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS  # 0: only at rotation and shutdown
    checkpoint_file: str | None = None  # None: `<audit_log>.checkpoints`
    checkpoint_url: str | None = None  # each checkpoint is also POSTed here (JSON)

    def checkpoints_path(self, audit_log: str) -> str:
        return self.checkpoint_file or f"{audit_log}.checkpoints"


def parse_audit_options(raw: Mapping[str, Any], legacy_fsync: bool = False) -> AuditOptions:
    """Validate the `audit` section (`audit_fsync: true` is the older spelling of `audit.fsync`)."""
    for key in raw:
        if key not in _KNOWN:
            raise ConfigError(f"`audit.{key}` is not a known key; known keys: {', '.join(_KNOWN)}")
    durability = raw.get("durability", AuditDurability.BATCHED.value)
    if durability not in [d.value for d in AuditDurability]:
        raise ConfigError(
            f"`audit.durability` must be batched or acknowledged, got {durability!r} "
            "(acknowledged: no response before its audit record is written)"
        )
    fsync = raw.get("fsync", False)
    if not isinstance(fsync, bool):
        raise ConfigError(f"`audit.fsync` must be true or false, got {fsync!r}")
    seconds = raw.get("checkpoint_seconds", DEFAULT_CHECKPOINT_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ConfigError(
            f"`audit.checkpoint_seconds` must be a number of seconds >= 0 (0: only at rotation and shutdown), "
            f"got {seconds!r:.40}"
        )
    for key in ("signing_key", "checkpoint_file", "checkpoint_url"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"`audit.{key}` must be a non-empty string, got {value!r:.60}")
    url = raw.get("checkpoint_url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"`audit.checkpoint_url` must be an http:// or https:// URL, got {url!r:.60}")
    if raw.get("signing_key") is None and any(
        raw.get(k) is not None for k in ("checkpoint_file", "checkpoint_url")
    ):
        raise ConfigError("`audit.checkpoint_file` and `audit.checkpoint_url` need `audit.signing_key`")
    return AuditOptions(
        AuditDurability(durability),
        fsync or legacy_fsync,
        signing_key=raw.get("signing_key"),
        checkpoint_seconds=float(seconds),
        checkpoint_file=raw.get("checkpoint_file"),
        checkpoint_url=url,
    )
