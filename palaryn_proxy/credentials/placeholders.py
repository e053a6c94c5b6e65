"""Placeholders: what agents hold instead of real values. Stable per credential and actor (an HMAC under a key
file in certs_dir, so the CLI and the proxy agree), shaped like the provider's keys, and recognisable anywhere
by a marker (`palaryn`) followed by the credential's tag."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from palaryn_proxy.credentials.config import CredentialSpec
from palaryn_proxy.credentials.sigv4 import AwsKeys
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.hostmatch import HostMatcher

KEY_FILE = "credential-placeholders.key"
MARKER = "palaryn"
TAG_LEN = 5
MARKED = re.compile(MARKER + r"[-_]?([a-z2-7]{" + str(TAG_LEN) + "})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Shape:
    """How a provider's keys look, where SDKs or agents check: a prefix and a total length."""

    prefix: str
    length: int
    sep: str = "-"  # between the marker and the tag


SHAPES: tuple[tuple[tuple[str, ...], Shape], ...] = (
    (("api.openai.com",), Shape("sk-proj-", 80)),
    (("api.anthropic.com",), Shape("sk-ant-api03-", 108)),
    (("generativelanguage.googleapis.com", "*.googleapis.com"), Shape("AIza", 39, "")),
    (("api.github.com", "github.com", "*.github.com", "*.githubusercontent.com"), Shape("ghp_", 40, "")),
)
GENERIC = Shape("", 48)


def load_key(certs_dir: str | Path) -> bytes:
    """The placeholder key: 32 random bytes in certs_dir (mode 0600), created by whoever needs it first."""
    path = Path(certs_dir).expanduser() / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32).hex().encode())
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"{path}: not a placeholder key (64 hex digits); remove it to make a new one"
        ) from None
    if len(key) < 16:
        raise ConfigError(f"{path}: the placeholder key is too short; remove it to make a new one")
    return key


def shape_of(spec: CredentialSpec) -> Shape:
    for globs, shape in SHAPES:
        matcher = HostMatcher(globs)
        if any(matcher.match(h.rpartition(":")[0] if ":" in h else h) for h in spec.hosts):
            return shape
    return GENERIC


class Placeholders:
    """Derives every credential's placeholder for an actor, and finds placeholders in text."""

    def __init__(self, key: bytes, specs: Iterable[CredentialSpec]):
        self._key = key
        self.specs = {s.name: s for s in specs}
        self.tags = {self._b32("tag", s.name)[:TAG_LEN]: s.name for s in self.specs.values()}
        self.literals = {s.placeholder: s.name for s in self.specs.values() if s.placeholder}

    def _b32(self, *parts: str) -> str:
        digest = hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest()
        digest += hmac.new(self._key, digest, hashlib.sha256).digest()
        return base64.b32encode(digest).decode().rstrip("=").lower()

    def tag(self, name: str) -> str:
        return self._b32("tag", name)[:TAG_LEN]

    def key(self, spec: CredentialSpec, actor: str) -> str:
        """The placeholder string an actor holds (for aws_sigv4: ACCESS_KEY_ID:SECRET_ACCESS_KEY)."""
        if spec.aws is not None:
            pair = self.aws(spec, actor)
            return f"{pair.access_key_id}:{pair.secret_access_key}"
        if spec.placeholder:
            return spec.placeholder
        shape = shape_of(spec)
        head = f"{shape.prefix}{MARKER}{shape.sep}{self.tag(spec.name)}"
        return head + self._b32("actor", spec.name, actor)[: shape.length - len(head)]

    def aws(self, spec: CredentialSpec, actor: str) -> AwsKeys:
        """A 20-character AKIA... key id and a 40-character secret, both carrying the marker and tag."""
        tag, mac = self.tag(spec.name), self._b32("actor", spec.name, actor)
        key_id = ("AKIA" + MARKER + tag + mac[:4]).upper()
        return AwsKeys(key_id, MARKER + tag + self._b32("secret", spec.name, actor)[:28])

    def env(self, spec: CredentialSpec, actor: str) -> dict[str, str]:
        """The environment variables an agent gets for this credential (AWS: key id and secret)."""
        if spec.aws is not None:
            pair = self.aws(spec, actor)
            return dict(zip(spec.env, (pair.access_key_id, pair.secret_access_key), strict=True))
        return {var: self.key(spec, actor) for var in spec.env}

    def owner(self, token: str) -> str | None:
        """The credential a slot's token claims to be a placeholder of (any actor's), or None."""
        if token in self.literals:
            return self.literals[token]
        m = MARKED.search(token)
        return self.tags.get(m.group(1).lower()) if m is not None else None

    def find(self, text: str) -> set[str]:
        """Names of the credentials whose placeholders (any actor's) appear in `text`."""
        found = {self.tags[t] for m in MARKED.finditer(text) if (t := m.group(1).lower()) in self.tags}
        found.update(name for literal, name in self.literals.items() if literal in text)
        return found
