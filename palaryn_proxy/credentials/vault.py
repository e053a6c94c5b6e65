"""The vault a running proxy holds: the credentials' specs, their value sources, their placeholders, and the
scrubber of every real value (rebuilt when a value rotates)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from palaryn_proxy.credentials import sigv4
from palaryn_proxy.credentials.config import CredentialsConfig, CredentialSpec
from palaryn_proxy.credentials.placeholders import Placeholders, load_key
from palaryn_proxy.credentials.plan import Plan, RequestView, judge, placeholders_in
from palaryn_proxy.credentials.scrub import Scrubber
from palaryn_proxy.credentials.sources import ResolveError, ValueSource
from palaryn_proxy.errors import ConfigError

log = logging.getLogger("palaryn")


class Vault:
    def __init__(
        self, config: CredentialsConfig, certs_dir: str | Path, environ: Mapping[str, str] | None = None
    ):
        self.config = config
        key = load_key(certs_dir) if config else bytes(32)  # no key file for a proxy without credentials
        self.placeholders = Placeholders(key, config.credentials)
        self.sources = {c.name: ValueSource(c.name, c.source, environ) for c in config.credentials}
        self._scrubber = Scrubber(())
        self._versions: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.config)

    def status(self) -> dict[str, str | None]:
        """Resolve every value now: None for a credential that resolves, else why not (no values shown)."""
        out: dict[str, str | None] = {}
        for spec in self.config.credentials:
            try:
                self.real(spec, self.sources[spec.name].resolve())
                out[spec.name] = None
            except (ResolveError, ValueError) as exc:
                out[spec.name] = str(exc)
        return out

    def start(self) -> None:
        """Resolve every value; a value that cannot be read stops the start (ConfigError naming them all)."""
        problems = {name: why for name, why in self.status().items() if why is not None}
        if problems:
            lines = "; ".join(f"credential {name}: {why}" for name, why in problems.items())
            raise ConfigError(f"credentials that cannot be resolved: {lines}")

    def refresh(self) -> None:
        """Re-read every value (SIGHUP; blocking): a failure keeps the previous value."""
        for source in self.sources.values():
            try:
                source.refresh()
            except ResolveError as exc:
                log.warning("credential %s: %s", source.name, exc)

    def judge(self, view: RequestView, actor: str) -> Plan:
        return judge(view, actor, self.config, self.placeholders)

    def find(self, text: str) -> set[str]:
        """Credentials whose placeholders (any actor's, in any encoding) appear in `text`."""
        return placeholders_in(text, self.placeholders)

    def stale(self, name: str) -> bool:
        return self.sources[name].stale

    def value(self, name: str) -> str:
        """The current real value (a changed file is read again); raises ResolveError."""
        return self.sources[name].current()

    def spec(self, name: str) -> CredentialSpec:
        spec = self.config.get(name)
        assert spec is not None
        return spec

    @staticmethod
    def real(spec: CredentialSpec, value: str) -> sigv4.AwsKeys | str:
        """The value as its placement uses it (aws_sigv4: the parsed key pair; ValueError if malformed)."""
        return sigv4.parse_aws_value(value) if spec.aws is not None else value

    def scrubber(self) -> Scrubber:
        """Finds every real value (and the one before its last rotation) in responses."""
        versions = tuple(s.version for s in self.sources.values())
        if versions != self._versions:
            pairs: list[tuple[str, str]] = []
            for spec in self.config.credentials:
                source = self.sources[spec.name]
                for value in (source.value, source.previous):
                    if value is not None:
                        pairs += [(spec.name, v) for v in _secrets(spec, value)]
            self._scrubber, self._versions = Scrubber(pairs), versions
        return self._scrubber


def _secrets(spec: CredentialSpec, value: str) -> list[str]:
    if spec.aws is None:
        return [value]
    try:
        keys = sigv4.parse_aws_value(value)
    except ValueError:
        return [value]
    return [v for v in (keys.secret_access_key, keys.session_token, keys.access_key_id, value) if v]
