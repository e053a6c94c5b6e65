"""The `mcp` config section: what happens to changed, new, poisoned and denied tools in tools/list answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

ON_CHANGE = ("log", "flag", "block", "hide")
POISONED = ("log", "flag", "block", "hide")
MCP_KEYS = frozenset({"on_change", "poisoned", "hide_denied", "injection_threshold"})


@dataclass(frozen=True, slots=True)
class McpGuardConfig:
    on_change: str = "flag"  # a pinned tool changed, or a new tool appeared after the first answer
    poisoned: str = "flag"  # a description carries instructions or hidden characters
    hide_denied: bool = False  # omit from tools/list the tools policy denies to this actor
    injection_threshold: float = 0.5


def _choice(key: str, raw: Any, choices: tuple[str, ...], default: str) -> str:
    if raw is None:
        return default
    if raw not in choices:
        raise ConfigError(f"mcp.{key}: {raw!r} is not one of {', '.join(choices)}")
    return str(raw)


def parse_mcp_config(values: Mapping[str, Any]) -> McpGuardConfig:
    raw = values.get("mcp") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("mcp: expected a mapping {on_change, poisoned, hide_denied}")
    unknown = sorted(set(raw) - MCP_KEYS)
    if unknown:
        raise ConfigError(f"mcp.{unknown[0]}: unknown key; valid keys are {', '.join(sorted(MCP_KEYS))}")
    hide = raw.get("hide_denied", False)
    if not isinstance(hide, bool):
        raise ConfigError(f"mcp.hide_denied: expected true or false, got {hide!r}")
    threshold = raw.get("injection_threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ConfigError(f"mcp.injection_threshold: expected a number in (0, 1], got {threshold!r}")
    return McpGuardConfig(
        on_change=_choice("on_change", raw.get("on_change"), ON_CHANGE, "flag"),
        poisoned=_choice("poisoned", raw.get("poisoned"), POISONED, "flag"),
        hide_denied=hide,
        injection_threshold=float(threshold),
    )
