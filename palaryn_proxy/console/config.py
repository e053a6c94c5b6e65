"""The admin listener's config: `admin_listen` and `admin.tokens` (sha256 hashes, each with a role)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

_HASH = re.compile(r"sha256:[0-9a-f]{64}")


class Role(enum.StrEnum):
    VIEWER = "viewer"  # reads everything the console shows
    APPROVER = "approver"  # also approves and denies held requests

    def may(self, needed: Role) -> bool:
        return self is Role.APPROVER or needed is Role.VIEWER


@dataclass(frozen=True, slots=True)
class AdminToken:
    hash: str  # "sha256:<hex>" of the bearer token
    role: Role
    name: str  # who decided, in approvals ("console" unless named)


@dataclass(frozen=True, slots=True)
class AdminConfig:
    listen: str | None  # HOST:PORT, or None when `admin_listen: off`
    tokens: tuple[AdminToken, ...] = ()
    session_hours: float = 12.0

    @property
    def open(self) -> bool:
        """No token configured: the API answers loopback clients only, as an approver."""
        return not self.tokens


def parse_admin_config(values: Mapping[str, Any]) -> AdminConfig:
    """`admin_listen` (default: the metrics listener's address; 'off' disables) and the `admin` mapping."""
    listen = values.get("admin_listen")
    if listen is None:
        listen = values.get("metrics_listen", "")
    listen = None if listen in ("off", "") else listen
    admin = values.get("admin") or {}
    unknown = set(admin) - {"tokens", "session_hours"}
    if unknown:
        raise ConfigError(f"admin.{sorted(unknown)[0]}: unknown key; allowed: tokens, session_hours")
    tokens = admin.get("tokens") or []
    if not isinstance(tokens, list):
        raise ConfigError("admin.tokens: expected a list of {token: 'sha256:<hex>', role: viewer|approver}")
    hours = admin.get("session_hours", 12.0)
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
        raise ConfigError(f"admin.session_hours: expected a positive number of hours, got {hours!r}")
    return AdminConfig(listen, tuple(_token(i, t) for i, t in enumerate(tokens)), float(hours))


def _token(index: int, entry: Any) -> AdminToken:
    where = f"admin.tokens[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping {{token: 'sha256:<hex>', role: viewer|approver}}")
    unknown = set(entry) - {"token", "role", "name"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key; allowed: token, role, name")
    token = entry.get("token")
    if not (isinstance(token, str) and _HASH.fullmatch(token)):
        raise ConfigError(
            f"{where}.token: must be 'sha256:<64 lowercase hex>' (never the token itself); "
            "`palaryn-proxy hash-token` prints it"
        )
    role = entry.get("role", "viewer")
    if role not in tuple(Role):
        raise ConfigError(f"{where}.role: {role!r} is not a role; use viewer or approver")
    name = entry.get("name", "console")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: expected a non-empty string naming who holds the token")
    return AdminToken(token, Role(role), name)
