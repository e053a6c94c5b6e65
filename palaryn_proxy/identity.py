"""Who sent a flow: proxy credentials, X-Palaryn-* headers, the client-address map, else the defaults."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.ids import random_hex
from palaryn_proxy.types import Identity


@dataclass(frozen=True, slots=True)
class ActorSpec:
    name: str
    workspace: str | None
    token_hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientMapEntry:
    network: str  # an IP or CIDR
    actor: str
    workspace: str | None
    task: str | None


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    default_actor: str = "anonymous"
    default_workspace: str = "default"
    require_auth: bool = False
    actors: tuple[ActorSpec, ...] = ()
    client_map: tuple[ClientMapEntry, ...] = ()


def parse_identity(raw: Mapping[str, Any]) -> IdentityConfig:
    """Validate the `identity` section."""
    known = {"default_actor", "default_workspace", "require_auth", "actors", "client_map"}
    for k in raw:
        if k not in known:
            raise ConfigError(f"`identity.{k}` is not a known key; known keys: {', '.join(sorted(known))}")
    actors = []
    for name, spec in (raw.get("actors") or {}).items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"`identity.actors.{name}` must be a mapping with `workspace` and `tokens`")
        unknown = set(spec) - {"workspace", "tokens"}
        if unknown:
            raise ConfigError(
                f"`identity.actors.{name}.{sorted(unknown)[0]}` is not a known key "
                "(use `workspace` and `tokens`)"
            )
        hashes = tuple(spec.get("tokens") or ())
        for h in hashes:
            if not (isinstance(h, str) and h.startswith("sha256:") and len(h) == 71):
                raise ConfigError(
                    f"`identity.actors.{name}.tokens` must hold 'sha256:<64 hex>' hashes; "
                    "make one with `palaryn-proxy hash-token`"
                )
        actors.append(ActorSpec(str(name), spec.get("workspace"), tuple(h.lower() for h in hashes)))
    client_map = []
    for net, spec in (raw.get("client_map") or {}).items():
        if isinstance(spec, str):
            spec = {"actor": spec}
        if not isinstance(spec, Mapping) or "actor" not in spec:
            raise ConfigError(
                f"`identity.client_map.{net}` must name an `actor` (and optionally `workspace`)"
            )
        try:
            ipaddress.ip_network(str(net), strict=False)
        except ValueError:
            raise ConfigError(f"`identity.client_map.{net}`: keys must be IP addresses or CIDRs") from None
        client_map.append(
            ClientMapEntry(str(net), str(spec["actor"]), spec.get("workspace"), spec.get("task"))
        )
    require = raw.get("require_auth", False)
    if not isinstance(require, bool):
        raise ConfigError("`identity.require_auth` must be true or false")
    if require and not actors:
        raise ConfigError("`identity.require_auth` is true but `identity.actors` lists no actor with tokens")
    return IdentityConfig(
        default_actor=str(raw.get("default_actor", "anonymous")),
        default_workspace=str(raw.get("default_workspace", "default")),
        require_auth=require,
        actors=tuple(actors),
        client_map=tuple(client_map),
    )


HEADER_PREFIX = "x-palaryn-"
ACTOR_HEADER = "x-palaryn-actor"
WORKSPACE_HEADER = "x-palaryn-workspace"
TASK_HEADER = "x-palaryn-task"
TAGS_HEADER = "x-palaryn-tags"
MAX_TAGS = 32


def new_request_id() -> str:
    return "req_" + random_hex(12)


def hash_token(token: str) -> str:
    """The form tokens are stored in config: 'sha256:<hex>'."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def parse_basic(header_value: str) -> tuple[str, str] | None:
    """Decode a `Basic` Proxy-Authorization value into (user, password); None if malformed."""
    scheme, _, payload = header_value.strip().partition(" ")
    if scheme.lower() != "basic" or not payload:
        return None
    try:
        user, sep, password = base64.b64decode(payload.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def parse_tags(value: str) -> dict[str, str]:
    """'team=search, env=dev' -> {'team': 'search', 'env': 'dev'}; items without '=' are ignored."""
    tags: dict[str, str] = {}
    for item in value.split(",")[:MAX_TAGS]:
        key, sep, val = item.partition("=")
        if sep and key.strip():
            tags[key.strip()[:64]] = val.strip()[:256]
    return tags


@dataclass(frozen=True, slots=True)
class AuthResult:
    ok: bool
    actor: str | None
    message: str = ""


class IdentityResolver:
    """Resolves identities; built once from config, called per flow."""

    def __init__(self, config: IdentityConfig):
        self.config = config
        self._actors = {a.name: a for a in config.actors}
        self._networks = [(ipaddress.ip_network(e.network, strict=False), e) for e in config.client_map]
        # Most specific network first.
        self._networks.sort(key=lambda pair: pair[0].prefixlen, reverse=True)

    @property
    def auth_required(self) -> bool:
        return self.config.require_auth

    def authenticate(self, credentials: tuple[str, str] | None) -> AuthResult:
        """Check proxy credentials. Without `require_auth`, a user name alone names the actor."""
        if credentials is None:
            if self.config.require_auth:
                return AuthResult(
                    False, None, "proxy credentials required (HTTPS_PROXY=http://ACTOR:TOKEN@host:port)"
                )
            return AuthResult(True, None)
        user, token = credentials
        spec = self._actors.get(user)
        if spec is None or not spec.token_hashes:
            if self.config.require_auth:
                return AuthResult(False, None, f"unknown actor or no token configured for {user!r}")
            return AuthResult(True, user or None)
        offered = hash_token(token)
        if any(hmac.compare_digest(offered, h) for h in spec.token_hashes):
            return AuthResult(True, user)
        return AuthResult(False, None, f"wrong token for actor {user!r}")

    def resolve(self, authed_actor: str | None, headers: Mapping[str, str], client_ip: str) -> Identity:
        """Identity in precedence order: proxy auth, headers, client-address map, defaults."""
        mapped = self._client_entry(client_ip)
        actor, source = self.config.default_actor, "default"
        workspace: str | None = None
        task: str | None = None
        if mapped is not None:
            actor, workspace, task, source = mapped.actor, mapped.workspace, mapped.task, "client_map"
        header_actor = headers.get(ACTOR_HEADER)
        if header_actor and not (self.config.require_auth and authed_actor):
            actor, source = header_actor.strip()[:128], "header"
        if authed_actor:
            actor, source = authed_actor, "proxy_auth"
        spec = self._actors.get(actor)
        if spec is not None and spec.workspace:
            workspace = spec.workspace
        if headers.get(WORKSPACE_HEADER) and not (spec is not None and spec.workspace and authed_actor):
            workspace = headers[WORKSPACE_HEADER].strip()[:128]
        if headers.get(TASK_HEADER):
            task = headers[TASK_HEADER].strip()[:128]
        tags = parse_tags(headers[TAGS_HEADER]) if headers.get(TAGS_HEADER) else {}
        return Identity(
            actor=actor,
            workspace=workspace or self.config.default_workspace,
            task=task,
            tags=tags,
            source=source,
        )

    def _client_entry(self, client_ip: str):
        if not self._networks:
            return None
        try:
            addr = ipaddress.ip_address(client_ip)
        except ValueError:
            return None
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        for net, entry in self._networks:
            if addr.version == net.version and addr in net:
                return entry
        return None
