"""The `arguments` condition: JSON-pointer tests on the arguments of an MCP tools/call or a model tool call."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from palaryn_proxy.errors import ConfigError

if TYPE_CHECKING:
    from palaryn_proxy.policy.conditions import RequestView

OPS = ("matches", "glob", "equals", "in", "gt", "lt", "exists")
_MISSING = object()


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901: the value at `pointer` ("" is the whole document), or _MISSING."""
    if pointer == "":
        return doc
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, Mapping) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return _MISSING
    return doc


def _number(value: Any) -> float | None:
    """Numbers and numeric strings ("150" must not slip past `gt: 100`); never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass(frozen=True, slots=True)
class ArgTest:
    pointer: str
    op: str
    value: Any
    regex: re.Pattern[str] | None = None

    def holds(self, arguments: Any) -> bool:
        found = resolve_pointer(arguments, self.pointer)
        if self.op == "exists":
            return (found is not _MISSING) is bool(self.value)
        if found is _MISSING:
            return False
        if self.op == "equals":
            return bool(found == self.value)
        if self.op == "in":
            return any(found == v for v in self.value)
        if self.op in ("gt", "lt"):
            number = _number(found)
            if number is None:
                return False
            return number > self.value if self.op == "gt" else number < self.value
        assert self.regex is not None
        if self.op == "glob":  # a path is also tried in its normalised form: /tmp/../etc/passwd is /etc/**
            if not isinstance(found, str):
                return False
            forms = {found, posixpath.normpath(found)} if found.startswith("/") else {found}
            return any(self.regex.match(f) for f in forms)
        return self.regex.search(_text(found)) is not None

    def describe(self) -> str:
        return f"{self.pointer} {self.op} {self.value!r}"


@dataclass(frozen=True, slots=True)
class ArgumentsCondition:
    """Every test must hold; a request without tool arguments (plain HTTP) never matches."""

    tests: tuple[ArgTest, ...]
    key: str = "arguments"

    def holds(self, view: RequestView) -> bool:
        arguments = view.ctx.arguments
        return arguments is not None and all(t.holds(arguments) for t in self.tests)

    def explain_miss(self, view: RequestView) -> str:
        if view.ctx.arguments is None:
            return "arguments: the request carries no tool arguments"
        missed = next(t for t in self.tests if not t.holds(view.ctx.arguments))
        return f"arguments: {missed.describe()} does not hold"


def _compile_test(where: str, raw: Any) -> ArgTest:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{pointer: /path, glob: '/etc/**'}}")
    pointer = raw.get("pointer")
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise ConfigError(f"{where}.pointer: expected a JSON pointer such as /query, got {pointer!r}")
    ops = [k for k in raw if k != "pointer"]
    if len(ops) != 1 or ops[0] not in OPS:
        raise ConfigError(f"{where}: needs exactly one of {', '.join(OPS)} besides pointer, got {ops}")
    op, value = ops[0], raw[ops[0]]
    if op in ("matches", "glob"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}.{op}: expected a non-empty string")
        try:
            regex = re.compile(value if op == "matches" else fnmatch.translate(value))
        except re.error as exc:
            raise ConfigError(f"{where}.{op}: invalid regular expression: {exc}") from None
        return ArgTest(pointer, op, value, regex)
    if op in ("gt", "lt") and _number(value) is None:
        raise ConfigError(f"{where}.{op}: expected a number, got {value!r}")
    if op == "in" and not isinstance(value, list):
        raise ConfigError(f"{where}.in: expected a list of values")
    if op == "exists" and not isinstance(value, bool):
        raise ConfigError(f"{where}.exists: expected true or false")
    return ArgTest(pointer, op, float(value) if op in ("gt", "lt") else value)


def compile_arguments(where: str, raw: Any) -> ArgumentsCondition | None:
    """Compile a rule's `arguments` list (all tests must hold); an empty list is no condition."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ConfigError(f"{where}.arguments: expected a list of {{pointer, <test>}} mappings")
    tests = tuple(_compile_test(f"{where}.arguments[{i}]", item) for i, item in enumerate(raw))
    return ArgumentsCondition(tests) if tests else None


def arguments_hash(calls: list[tuple[str, Any]]) -> str:
    """What an approval of tool calls binds to: each tool name with its exact arguments, canonical JSON."""
    canonical = json.dumps([[name, args] for name, args in calls], sort_keys=True, separators=(",", ":"))
    return "args:" + hashlib.sha256(canonical.encode()).hexdigest()
