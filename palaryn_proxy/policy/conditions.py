"""Rule conditions compiled once at load time: glob matchers over one normalised view of the request."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy.arguments import compile_arguments
from palaryn_proxy.policy.model import PolicyContext
from palaryn_proxy.ssrf import normalize_host
from palaryn_proxy.types import Capability, Kind

_GLOB_CHARS = frozenset("*?[")
_PCT_UNRESERVED = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


def normalize_path(raw: str) -> str:
    """Path without query or fragment, unreserved %-escapes decoded, dot segments and repeated slashes removed.

    Matching the form upstream servers act on keeps `/%61dmin/` or `/x/../admin` from slipping past `/admin/*`.
    """
    path = raw.split("?", 1)[0].split("#", 1)[0] or "/"
    path = _PCT_UNRESERVED.sub(lambda m: chr(int(m.group(1), 16)), path)
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:] if path.startswith("/") else segments:
        if seg == "..":
            if out:
                out.pop()
        elif seg not in (".", ""):
            out.append(seg)
    trailing = "/" if segments[-1] in ("", ".", "..") and out else ""
    return "/" + "/".join(out) + trailing


class Matcher:
    """Exact strings in a frozenset, globs (fnmatch syntax) in one compiled regex."""

    __slots__ = ("patterns", "_exact", "_regex", "_fold")

    def __init__(self, patterns: Sequence[str], *, fold: bool) -> None:
        self.patterns = tuple(patterns)
        self._fold = fold
        norm = [p.lower() if fold else p for p in patterns]
        self._exact = frozenset(p for p in norm if not _GLOB_CHARS & set(p))
        globs = [p for p in norm if _GLOB_CHARS & set(p)]
        self._regex = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None

    def __call__(self, value: str | None) -> bool:
        if value is None:
            return False
        if self._fold:
            value = value.lower()
        return value in self._exact or (self._regex is not None and self._regex.match(value) is not None)

    def any(self, values: Sequence[str]) -> list[str]:
        """The values that match (for model_tools, where the model may ask for several tools)."""
        return [v for v in values if self(v)]


def host_matcher(patterns: Sequence[str]) -> Matcher:
    """Domains: case-insensitive; `*.example.com` matches subdomains only; IP literals in canonical form."""
    return Matcher([p if _GLOB_CHARS & set(p) else normalize_host(p) for p in patterns], fold=True)


@dataclass(frozen=True, slots=True)
class RequestView:
    """The context with host, method and path normalised once per evaluation, not once per rule."""

    host: str
    method: str
    path: str
    ctx: PolicyContext

    @classmethod
    def of(cls, ctx: PolicyContext) -> RequestView:
        return cls(normalize_host(ctx.host), ctx.method.upper(), normalize_path(ctx.path), ctx)


_Getter = Callable[[RequestView], Any]


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """How one condition key reads the request and compares it."""

    field: str
    get: _Getter
    fold: bool
    choices: frozenset[str] | None = None


CONDITION_SPECS: dict[str, ConditionSpec] = {
    "domains": ConditionSpec("host", lambda v: v.host, True),
    "methods": ConditionSpec("method", lambda v: v.method, True),
    "paths": ConditionSpec("path", lambda v: v.path, False),
    "capabilities": ConditionSpec(
        "capability", lambda v: str(v.ctx.capability), True, frozenset(c.value for c in Capability)
    ),
    "kinds": ConditionSpec("kind", lambda v: str(v.ctx.kind), True, frozenset(k.value for k in Kind)),
    "tools": ConditionSpec("tool", lambda v: v.ctx.tool, False),
    "mcp_servers": ConditionSpec("mcp_server", lambda v: v.ctx.mcp_server, True),
    "actors": ConditionSpec("actor", lambda v: v.ctx.actor, False),
    "workspaces": ConditionSpec("workspace", lambda v: v.ctx.workspace, False),
    "providers": ConditionSpec("provider", lambda v: v.ctx.provider, True),
    "models": ConditionSpec("model", lambda v: v.ctx.model, True),
    "model_tools": ConditionSpec("model_tools", lambda v: v.ctx.model_tools, False),
}


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    spec: ConditionSpec
    matcher: Matcher

    def holds(self, view: RequestView) -> bool:
        value = self.spec.get(view)
        if self.key == "model_tools":
            return bool(self.matcher.any(value))
        return self.matcher(value)

    def explain_miss(self, view: RequestView) -> str:
        value = self.spec.get(view)
        shown = list(value) if isinstance(value, tuple) else value
        return f"{self.key}: {self.spec.field} {shown!r} not in {list(self.matcher.patterns)}"


class AnyCondition(Protocol):
    """What a rule's conditions share (Condition, ArgumentsCondition, replay's stand-ins)."""

    @property
    def key(self) -> str: ...

    def holds(self, view: RequestView) -> bool: ...

    def explain_miss(self, view: RequestView) -> str: ...


def compile_condition(where: str, key: str, raw: Any) -> AnyCondition | None:
    """Compile one `conditions` entry; an empty list is no condition at all (it matches everything)."""
    if key == "arguments":
        return compile_arguments(where, raw)
    spec = CONDITION_SPECS.get(key)
    if spec is None:
        valid = ", ".join([*CONDITION_SPECS, "arguments"])
        raise ConfigError(f"{where}.{key}: unknown condition; valid are {valid}")
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}.{key}: expected a list of strings, got {type(raw).__name__}")
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{where}.{key}[{i}]: expected a non-empty string, got {item!r}")
        if spec.choices is not None and item.lower() not in spec.choices:
            raise ConfigError(f"{where}.{key}[{i}]: {item!r} is not one of {', '.join(sorted(spec.choices))}")
    if not raw:
        return None
    matcher = host_matcher(raw) if key == "domains" else Matcher(raw, fold=spec.fold)
    return Condition(key, spec, matcher)
