"""Credential-destination binding: a credential sent to its issuer, where the issuer expects it, is normal use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class Binding:
    types: frozenset[str]
    hosts: tuple[str, ...]  # exact, "*.suffix" or "*"
    headers: frozenset[str] = frozenset()  # lower-case request header names
    query: frozenset[str] = frozenset()  # lower-case query parameter names
    path: bool = False
    body: bool = False
    responses: bool = False  # the issuer mints these in responses (OAuth, app installation tokens)

    def host_matches(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.hosts:
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith("*.") and (host.endswith(pattern[1:]) or host == pattern[2:]):
                return True
        return False

    def allows(self, host: str, part: str, name: str) -> bool:
        """Is a credential in `part` (header / query / path / body) named `name` bound to this host?"""
        if part == "header" and name.lower() not in self.headers:
            return False
        if part == "query" and name.lower() not in self.query:
            return False
        if (part == "path" and not self.path) or (part == "body" and not self.body):
            return False
        return self.host_matches(host)


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: expected a list of non-empty strings")
    return tuple(value)


_BINDING_KEYS = ("types", "type", "hosts", "headers", "query", "path", "body", "responses")


def parse_bindings(
    raw: Any, known_types: Iterable[str], section: str = "dlp.bindings"
) -> tuple[Binding, ...]:
    """Parse a list of binding entries; unknown types, keys or malformed hosts raise ConfigError."""
    if not isinstance(raw, list):
        raise ConfigError(
            f"{section}: expected a list of {{types, hosts, headers, query, path, body, responses}}"
        )
    known = set(known_types)
    out = []
    for i, entry in enumerate(raw):
        key = f"{section}[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{key}: expected a mapping with types and hosts")
        for k in entry:
            if k not in _BINDING_KEYS:
                raise ConfigError(f"{key}.{k}: unknown key; known keys are {', '.join(_BINDING_KEYS)}")
        types = _strings(f"{key}.types", entry.get("types", entry.get("type")))
        for t in types:
            if t not in known:
                raise ConfigError(
                    f"{key}.types: unknown detector type {t!r}; use one of {', '.join(sorted(known))}"
                )
        hosts = _strings(f"{key}.hosts", entry.get("hosts"))
        for h in hosts:
            if "*" in h and h != "*" and not (h.startswith("*.") and "*" not in h[2:]):
                raise ConfigError(
                    f"{key}.hosts: {h!r} is not valid; use an exact host, '*.example.com' or '*'"
                )
        for flag in ("path", "body", "responses"):
            if not isinstance(entry.get(flag, False), bool):
                raise ConfigError(f"{key}.{flag}: expected true or false")
        out.append(
            Binding(
                types=frozenset(types),
                hosts=tuple(h.lower() for h in hosts),
                headers=frozenset(h.lower() for h in _strings(f"{key}.headers", entry.get("headers", []))),
                query=frozenset(q.lower() for q in _strings(f"{key}.query", entry.get("query", []))),
                path=entry.get("path", False),
                body=entry.get("body", False),
                responses=entry.get("responses", False),
            )
        )
    return tuple(out)


@cache
def builtin_bindings() -> tuple[Binding, ...]:
    """The shipped binding table (bindings.yaml), validated against the known detector types."""
    from .registry import GROUPS

    text = resources.files(__package__).joinpath("bindings.yaml").read_text(encoding="utf-8")
    return parse_bindings(yaml.safe_load(text), GROUPS, section="bindings.yaml")


def is_bound(bindings: Iterable[Binding], type_: str, host: str, part: str, name: str) -> bool:
    return any(type_ in b.types and b.allows(host, part, name) for b in bindings)


def issued_by(bindings: Iterable[Binding], type_: str, host: str) -> bool:
    """Does `host` mint credentials of this type in its responses (entries with `responses: true`)?"""
    return any(b.responses and type_ in b.types and b.host_matches(host) for b in bindings)
