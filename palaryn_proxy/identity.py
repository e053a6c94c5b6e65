"""Who sent a flow: proxy credentials, X-Palaryn-* headers, the client-address map, else the defaults."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from palaryn_proxy.config import IdentityConfig
from palaryn_proxy.ids import random_hex
from palaryn_proxy.types import Identity

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
