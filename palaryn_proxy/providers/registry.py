"""Choose the provider adapter for a request by host and port; config adds hosts to adapters."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .anthropic import AnthropicAdapter
from .azure import AzureOpenAIAdapter
from .base import Adapter
from .bedrock import BedrockAdapter
from .cohere import CohereAdapter
from .compat import compat_adapters
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter


def default_adapters() -> list[Adapter]:
    """Every built-in adapter, in a stable order (also the order of `ids()`)."""
    return [
        OpenAIAdapter(),
        AzureOpenAIAdapter(),
        AnthropicAdapter(),
        GeminiAdapter(),
        GeminiAdapter("vertex", ("aiplatform.googleapis.com", "*-aiplatform.googleapis.com")),
        BedrockAdapter(),
        *compat_adapters(),
        CohereAdapter(),
        OllamaAdapter(),
    ]


@dataclass(frozen=True, slots=True)
class HostRule:
    """One parsed `HOST`, `HOST:PORT`, `*.example.com[:PORT]` or `*:PORT` pattern."""

    host: str  # lower-case, no brackets; "*" = any host
    port: int | None
    glob: bool


_PORT = re.compile(r"^(.*):(\d{1,5})$")


def normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_host_rule(text: str, key: str) -> HostRule:
    """Parse one host pattern; `key` names it in errors (e.g. providers.openai.hosts[0])."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{key}: expected a host pattern such as 'llm.internal:8000' or '*.example.com'")
    raw, port = text.strip(), None
    match = _PORT.match(raw)
    if match is not None and (raw.startswith("[") or ":" not in match.group(1)):
        raw, port = match.group(1), int(match.group(2))
        if not 0 < port < 65536:
            raise ConfigError(f"{key}: port {port} is out of range 1-65535")
    host = normalise_host(raw)
    if not host or any(c in host for c in "/ ?#@"):
        raise ConfigError(f"{key}: {text!r} is not a host or HOST:PORT pattern")
    return HostRule(host, port, glob=any(c in host for c in "*?["))


class _Tier:
    """The rules of one precedence tier, compiled once: exact hosts in dicts, globs as regexes."""

    def __init__(self) -> None:
        self.exact: dict[tuple[str, int | None], Adapter] = {}
        self.globs: list[tuple[re.Pattern[str], int | None, Adapter]] = []
        self.ports: dict[int, Adapter] = {}

    def add(self, rule: HostRule, adapter: Adapter) -> None:
        if rule.host == "*":
            if rule.port is not None:
                self.ports.setdefault(rule.port, adapter)
        elif rule.glob:
            self.globs.append((re.compile(fnmatch.translate(rule.host)), rule.port, adapter))
        else:
            self.exact.setdefault((rule.host, rule.port), adapter)

    def find(self, host: str, port: int) -> Adapter | None:
        found = self.exact.get((host, port)) or self.exact.get((host, None))
        if found is not None:
            return found
        for pattern, rule_port, adapter in self.globs:
            if (rule_port is None or rule_port == port) and pattern.match(host):
                return adapter
        return self.ports.get(port)


class ProviderRegistry:
    """Adapters by id, and host -> adapter resolution. Configured hosts win over built-in defaults;
    within a tier an exact HOST:PORT wins over HOST, then globs, then any-host `*:PORT` rules."""

    def __init__(self, extra_hosts: Mapping[str, Sequence[str]] | None = None) -> None:
        self._adapters = {adapter.id: adapter for adapter in default_adapters()}
        self._configured = _Tier()
        self._defaults = _Tier()
        for adapter in self._adapters.values():
            for i, pattern in enumerate(adapter.hosts):
                self._defaults.add(parse_host_rule(pattern, f"{adapter.id}.hosts[{i}]"), adapter)
        for adapter_id, patterns in (extra_hosts or {}).items():
            key = f"providers.{adapter_id}"
            if adapter_id not in self._adapters:
                raise ConfigError(f"{key}: unknown provider adapter; valid ids: {', '.join(self.ids())}")
            if isinstance(patterns, str) or not isinstance(patterns, Sequence):
                raise ConfigError(f"{key}.hosts: expected a list of HOST or HOST:PORT patterns")
            for i, pattern in enumerate(patterns):
                self._configured.add(
                    parse_host_rule(pattern, f"{key}.hosts[{i}]"), self._adapters[adapter_id]
                )

    @classmethod
    def from_config(cls, section: object) -> ProviderRegistry:
        """Build from the config's `providers:` mapping: `{<adapter id>: {hosts: [HOST[:PORT], ...]}}`."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("providers: expected a mapping of adapter id to {hosts: [...]}")
        extra: dict[str, Sequence[str]] = {}
        for adapter_id, entry in section.items():
            key = f"providers.{adapter_id}"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{key}: expected a mapping with a 'hosts' list")
            unknown = sorted(str(k) for k in entry if k != "hosts")
            if unknown:
                raise ConfigError(f"{key}: unknown key(s) {', '.join(unknown)}; the only key is 'hosts'")
            extra[str(adapter_id)] = entry.get("hosts") or []
        return cls(extra)

    def resolve(self, host: str, port: int, path: str = "/") -> Adapter | None:
        """The adapter for a request's host and port, or None if it is not a known LLM endpoint.
        (The adapter's parse_request then decides whether the path is an LLM call.)"""
        name = normalise_host(host)
        return self._configured.find(name, port) or self._defaults.find(name, port)

    def adapter(self, adapter_id: str) -> Adapter:
        try:
            return self._adapters[adapter_id]
        except KeyError:
            raise KeyError(
                f"unknown provider adapter {adapter_id!r}; valid ids: {', '.join(self.ids())}"
            ) from None

    def ids(self) -> list[str]:
        return list(self._adapters)
