"""TRANSFORM actions: parse them from a rule, apply them to headers and a JSON body (RFC 6901 pointers)."""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.errors import ConfigError

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_ESCAPE = re.compile(r"~(?![01])")
_INDEX = re.compile(r"(?:0|[1-9][0-9]*)\Z")
# The proxy owns framing and routing: a policy may not rewrite these.
_PROTECTED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class TransformOp(enum.StrEnum):
    SET_HEADER = "set_header"
    REMOVE_HEADER = "remove_header"
    SET_JSON = "set_json"
    REMOVE_JSON = "remove_json"
    CAP_JSON = "cap_json"


@dataclass(frozen=True, slots=True)
class Transform:
    """One rewrite: `target` is a header name or a JSON pointer; values stay out of the repr (may be secret)."""

    op: TransformOp
    target: str
    value: Any = field(default=None, repr=False)
    tokens: tuple[str, ...] = field(default=(), repr=False)

    def describe(self) -> str:
        if self.op in (TransformOp.SET_JSON, TransformOp.CAP_JSON):
            return f"{self.op} {self.target} = {self.value!r}"
        return f"{self.op} {self.target}"


# Key in the rule's `transform` block -> (op, whether it carries values).
TRANSFORM_KEYS: dict[str, tuple[TransformOp, bool]] = {
    "remove_headers": (TransformOp.REMOVE_HEADER, False),
    "set_headers": (TransformOp.SET_HEADER, True),
    "remove_json": (TransformOp.REMOVE_JSON, False),
    "set_json": (TransformOp.SET_JSON, True),
    "cap_json": (TransformOp.CAP_JSON, True),
}


def parse_pointer(text: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer into unescaped reference tokens; the root pointer is refused."""
    if not text.startswith("/"):
        raise ValueError(f"JSON pointer {text!r} must start with '/' (for example /max_tokens)")
    if _BAD_ESCAPE.search(text):
        raise ValueError(f"JSON pointer {text!r}: '~' must be followed by 0 or 1")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in text.split("/")[1:])


def _check_header(where: str, name: Any) -> str:
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        raise ConfigError(f"{where}: {name!r} is not a valid header name")
    if name.lower() in _PROTECTED_HEADERS:
        raise ConfigError(f"{where}: header {name!r} is managed by the proxy and cannot be transformed")
    return name


def _header_value(where: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: header value must be a string, got {type(value).__name__}")
    text = str(value)
    if any(c in text for c in "\r\n\0"):
        raise ConfigError(f"{where}: header value must not contain CR, LF or NUL")
    return text


def _pointer(where: str, text: Any) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected a JSON pointer string, got {text!r}")
    try:
        return parse_pointer(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_one(where: str, op: TransformOp, target: Any, value: Any) -> Transform:
    if op in (TransformOp.SET_HEADER, TransformOp.REMOVE_HEADER):
        name = _check_header(where, target)
        text = _header_value(f"{where}.{name}", value) if op is TransformOp.SET_HEADER else None
        return Transform(op, name, text)
    tokens = _pointer(where, target)
    if op is TransformOp.CAP_JSON and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{where}.{target}: cap_json needs a number (the maximum), got {value!r}")
    return Transform(op, str(target), value, tokens)


def parse_transforms(where: str, raw: Any) -> tuple[Transform, ...]:
    """Parse a rule's `transform` block; errors name `where` and the offending key."""
    if not isinstance(raw, Mapping) or not raw:
        keys = ", ".join(TRANSFORM_KEYS)
        raise ConfigError(f"{where}: expected a non-empty mapping with any of {keys}")
    unknown = [k for k in raw if k not in TRANSFORM_KEYS]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown transform; valid are {', '.join(TRANSFORM_KEYS)}")
    out: list[Transform] = []
    for key, (op, has_values) in TRANSFORM_KEYS.items():  # fixed order: removals before sets, caps last
        if key not in raw:
            continue
        entries = raw[key]
        if has_values and not isinstance(entries, Mapping):
            raise ConfigError(f"{where}.{key}: expected a mapping of target to value")
        if not has_values and not isinstance(entries, list):
            raise ConfigError(f"{where}.{key}: expected a list of targets")
        pairs = entries.items() if has_values else ((t, None) for t in entries)
        out.extend(_parse_one(f"{where}.{key}", op, target, value) for target, value in pairs)
    return tuple(out)


def _container(doc: Any, tokens: Sequence[str]) -> Any:
    """The object or array holding the pointer's last token, or None when the path does not exist."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list):
            if not _INDEX.match(token) or int(token) >= len(node):
                return None
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, dict | list) else None


def _apply_json(doc: Any, t: Transform) -> None:
    parent = _container(doc, t.tokens)
    if parent is None:
        return
    last = t.tokens[-1]
    if isinstance(parent, dict):
        current = parent.get(last)
        if t.op is TransformOp.REMOVE_JSON:
            parent.pop(last, None)
        elif t.op is TransformOp.SET_JSON:
            parent[last] = copy.deepcopy(t.value)
        elif _number(current) and current > t.value:
            parent[last] = t.value
        return
    index = len(parent) if last == "-" else (int(last) if _INDEX.match(last) else None)
    if index is None or index > len(parent):
        return
    if t.op is TransformOp.SET_JSON:
        if index == len(parent):
            parent.append(copy.deepcopy(t.value))
        else:
            parent[index] = copy.deepcopy(t.value)
    elif index < len(parent):
        if t.op is TransformOp.REMOVE_JSON:
            del parent[index]
        elif _number(parent[index]) and parent[index] > t.value:
            parent[index] = t.value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def apply_transforms(
    transforms: Iterable[Transform], headers: Sequence[tuple[str, str]], json_body: Any
) -> tuple[list[tuple[str, str]], Any]:
    """Return new headers and a new JSON body with the transforms applied in order; inputs are not mutated.

    Header names match case-insensitively; set replaces every existing value. JSON actions are skipped when
    the body is not JSON (None) or the pointer's parent does not exist; cap_json only lowers an existing number.
    """
    out_headers = list(headers)
    body = json_body
    copied = False
    for t in transforms:
        if t.op in (TransformOp.SET_HEADER, TransformOp.REMOVE_HEADER):
            lower = t.target.lower()
            out_headers = [(k, v) for k, v in out_headers if k.lower() != lower]
            if t.op is TransformOp.SET_HEADER:
                out_headers.append((t.target, str(t.value)))
        elif body is not None:
            if not copied:
                body, copied = copy.deepcopy(body), True
            _apply_json(body, t)
    return out_headers, body
