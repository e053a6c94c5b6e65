"""The `credentials` and `credentials_required` sections, validated once at load into typed specs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.hostmatch import HostMatcher

KEYS = (
    "name",
    "hosts",
    "header",
    "format",
    "query",
    "basic",
    "aws_sigv4",
    "value_from",
    "cache_seconds",
    "actors",
    "placeholder",
    "env",
)
DEFAULT_PORTS = {"https": 443, "http": 80}
DEFAULT_CACHE_SECONDS = 300.0
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"([A-Za-z0-9*?.\[\]-]+)(?::(\d{1,5}))?")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a real value comes from: `env` (a variable), `file` (a path) or `command` (argv, cached)."""

    kind: str
    target: str = ""  # the variable name or the file path
    command: tuple[str, ...] = ()
    cache_seconds: float = DEFAULT_CACHE_SECONDS

    def describe(self) -> str:
        return f"command {self.command[0]}" if self.kind == "command" else f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    name: str
    hosts: tuple[str, ...]  # as configured: HOST or HOST:PORT, globs allowed
    source: Source
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case header name, format with {value})
    query: str | None = None
    basic_username: str | None = None
    aws: tuple[str | None, str | None] | None = None  # (service, region); None: from the request's scope
    actors: tuple[str, ...] = ()  # empty: every actor may use it
    placeholder: str | None = None  # as configured; None: generated per actor
    env: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "aws_sigv4" if self.aws is not None else "basic" if self.basic_username is not None else "key"

    def allows(self, actor: str) -> bool:
        return not self.actors or actor in self.actors


class HostBinding:
    """Matches (host, port, scheme) against one credential's hosts; a host without a port means the
    scheme's default port."""

    def __init__(self, hosts: tuple[str, ...]):
        self._rules: list[tuple[HostMatcher, int | None]] = []
        for entry in hosts:
            m = _HOST.fullmatch(entry)
            assert m is not None  # validated by parse_credentials
            self._rules.append((HostMatcher([m.group(1)]), int(m.group(2)) if m.group(2) else None))

    def matches(self, host: str, port: int, scheme: str) -> bool:
        for matcher, want in self._rules:
            expected = want if want is not None else DEFAULT_PORTS.get(scheme)
            if expected == port and matcher.match(host) is not None:
                return True
        return False


@dataclass(frozen=True)
class CredentialsConfig:
    credentials: tuple[CredentialSpec, ...] = ()
    required: bool | tuple[str, ...] = False  # true: every bound host; a list: those host globs

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bindings", {c.name: HostBinding(c.hosts) for c in self.credentials})
        globs = self.required if isinstance(self.required, tuple) else ()
        object.__setattr__(self, "_required", HostMatcher(globs))

    def __bool__(self) -> bool:
        return bool(self.credentials)

    def get(self, name: str) -> CredentialSpec | None:
        return next((c for c in self.credentials if c.name == name), None)

    def bound(self, host: str, port: int, scheme: str) -> list[CredentialSpec]:
        """The credentials whose hosts include this destination."""
        bindings: dict[str, HostBinding] = self._bindings  # type: ignore[attr-defined]
        return [c for c in self.credentials if bindings[c.name].matches(host, port, scheme)]

    def required_at(self, host: str) -> bool:
        if self.required is True:
            return True
        matcher: HostMatcher = self._required  # type: ignore[attr-defined]
        return bool(matcher) and matcher.match(host) is not None


def parse_credentials(raw: Any, required: Any, base_dir: Path | None = None) -> CredentialsConfig:
    """Validate `credentials` (a list) and `credentials_required` (true/false or a list of host globs)."""
    if not isinstance(raw, list):
        raise ConfigError(
            "`credentials` must be a list of {name, hosts, header | query | basic | aws_sigv4, ...}"
        )
    specs: list[CredentialSpec] = []
    for i, entry in enumerate(raw):
        spec = _credential(i, entry, base_dir)
        if any(s.name == spec.name for s in specs):
            raise ConfigError(f"`credentials[{i}].name`: {spec.name!r} is used twice; names must be unique")
        specs.append(spec)
    if isinstance(required, list):
        if not all(isinstance(h, str) and h for h in required):
            raise ConfigError("`credentials_required`: every item must be a host glob such as api.openai.com")
        return CredentialsConfig(tuple(specs), tuple(required))
    if not isinstance(required, bool):
        raise ConfigError("`credentials_required` must be true, false or a list of host globs")
    return CredentialsConfig(tuple(specs), required)


def _credential(i: int, entry: Any, base_dir: Path | None) -> CredentialSpec:
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"`credentials[{i}]` must be a mapping with name, hosts, value_from and a placement"
        )
    for k in entry:
        if k not in KEYS:
            raise ConfigError(f"`credentials[{i}].{k}` is not a known key; known keys: {', '.join(KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"`credentials[{i}].name` must be a short name of letters, digits, '.', '_' or '-'")
    where = f"`credentials.{name}"
    hosts = _strings(entry.get("hosts"), f"{where}.hosts`", "a list of hosts such as api.openai.com")
    for h in hosts:
        m = _HOST.fullmatch(h)
        if m is None or (m.group(2) and not 0 < int(m.group(2)) < 65536):
            raise ConfigError(f"{where}.hosts`: {h!r} is not HOST or HOST:PORT (globs such as *.example.com)")
    if not hosts:
        raise ConfigError(f"{where}.hosts` must list at least one host the credential may be sent to")
    placement = _placement(entry, where)
    actors = _strings(entry.get("actors", []), f"{where}.actors`", "a list of actor names")
    placeholder = entry.get("placeholder")
    if placeholder is not None and (not isinstance(placeholder, str) or len(placeholder) < 8):
        raise ConfigError(f"{where}.placeholder` must be a string of at least 8 characters, or left out")
    if placement.get("aws") is not None and placeholder is not None:
        raise ConfigError(f"{where}.placeholder`: aws_sigv4 placeholders are generated; leave it out")
    env = _strings(entry.get("env", []), f"{where}.env`", "a list of environment variable names")
    if placement.get("aws") is not None and not env:
        env = AWS_ENV
    for var in env:
        if not _ENV_NAME.fullmatch(var):
            raise ConfigError(f"{where}.env`: {var!r} is not an environment variable name")
    if placement.get("aws") is not None and len(env) != 2:
        raise ConfigError(f"{where}.env` of an aws_sigv4 credential names two variables: key id, secret key")
    return CredentialSpec(
        name=name,
        hosts=hosts,
        source=_source(entry, where, base_dir),
        actors=actors,
        placeholder=placeholder,
        env=env,
        **placement,
    )


def _placement(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """header (+ format) and/or query, or basic, or aws_sigv4: where the value goes in the request."""
    given = [k for k in ("header", "query", "basic", "aws_sigv4") if entry.get(k) is not None]
    fix = "set one of header (with an optional format), query, basic: {username} or aws_sigv4: {service, region}"
    if not given:
        raise ConfigError(f"{where}` says not where the value goes: {fix}")
    if len(given) > 1 and set(given) != {"header", "query"}:
        raise ConfigError(f"{where}` sets {' and '.join(given)}: {fix} (header and query may go together)")
    out: dict[str, Any] = {}
    if "header" in given:
        out["headers"] = _headers(entry["header"], entry.get("format"), where)
    elif entry.get("format") is not None:
        raise ConfigError(f"{where}.format` applies to `header` only")
    if "query" in given:
        if not isinstance(entry["query"], str) or not entry["query"]:
            raise ConfigError(f"{where}.query` must name the query parameter, such as key")
        out["query"] = entry["query"]
    if "basic" in given:
        basic = entry["basic"]
        username = basic.get("username") if isinstance(basic, Mapping) else None
        if not isinstance(username, str) or set(basic) - {"username"} or ":" in username:
            raise ConfigError(f"{where}.basic` must be {{username: NAME}} (the value is the password)")
        out["basic_username"] = username
    if "aws_sigv4" in given:
        aws = entry["aws_sigv4"]
        if not isinstance(aws, Mapping) or set(aws) - {"service", "region"}:
            raise ConfigError(f"{where}.aws_sigv4` must be {{service: NAME, region: NAME}} (both optional)")
        for k in ("service", "region"):
            if aws.get(k) is not None and not isinstance(aws.get(k), str):
                raise ConfigError(f"{where}.aws_sigv4.{k}` must be a string such as bedrock / us-east-1")
        out["aws"] = (aws.get("service"), aws.get("region"))
    return out


def _headers(raw: Any, fmt: Any, where: str) -> tuple[tuple[str, str], ...]:
    names = _strings(raw, f"{where}.header`", "a header name or a list of them")
    if not names:
        raise ConfigError(f"{where}.header` must name a header, such as authorization or x-api-key")
    out = []
    for name in names:
        f = fmt.get(name) if isinstance(fmt, Mapping) else fmt
        if f is None:
            f = "Bearer {value}" if name.lower() == "authorization" else "{value}"
        if not isinstance(f, str) or f.count("{value}") != 1:
            raise ConfigError(
                f"{where}.format` must contain {{value}} exactly once, such as 'Bearer {{value}}'"
            )
        out.append((name.lower(), f))
    return tuple(out)


def _source(entry: Mapping[str, Any], where: str, base_dir: Path | None) -> Source:
    raw = entry.get("value_from")
    fix = "use env:VARIABLE, file:PATH or {command: [ARGV...], cache_seconds: 300}"
    cache = entry.get("cache_seconds")
    if isinstance(raw, Mapping):
        if set(raw) - {"command", "cache_seconds"} or "command" not in raw:
            raise ConfigError(f"{where}.value_from`: {fix}")
        argv = raw["command"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise ConfigError(f"{where}.value_from.command` must be a non-empty list of strings (argv)")
        cache = raw.get("cache_seconds", cache)
        seconds = DEFAULT_CACHE_SECONDS if cache is None else cache
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ConfigError(f"{where}.value_from.cache_seconds` must be a number of seconds >= 0")
        return Source("command", command=tuple(argv), cache_seconds=float(seconds))
    if cache is not None:
        raise ConfigError(f"{where}.cache_seconds` applies to a command value_from only")
    if isinstance(raw, str):
        kind, sep, target = raw.partition(":")
        if sep and target and kind == "env" and _ENV_NAME.fullmatch(target):
            return Source("env", target)
        if sep and target and kind == "file":
            path = Path(target).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            return Source("file", str(path))
    raise ConfigError(f"{where}.value_from` is missing or malformed: {fix}")


def _strings(raw: Any, where: str, what: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if raw is None or not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise ConfigError(f"{where} must be {what}")
    return tuple(raw)
