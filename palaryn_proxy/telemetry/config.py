"""The `otel` config section: whether flows are exported over OTLP (the rest is the standard OTEL_* env)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

_KNOWN = ("enabled",)


@dataclass(frozen=True, slots=True)
class OtelConfig:
    """`enabled`: one span per flow and the GenAI client metrics, sent to OTEL_EXPORTER_OTLP_ENDPOINT."""

    enabled: bool = False


def parse_otel_config(values: Mapping[str, Any]) -> OtelConfig:
    """Validate `values["otel"]` (absent = off); an enabled export needs the `otel` extra installed."""
    raw = values.get("otel") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"`otel` must be a mapping like {{enabled: true}}, got {raw!r:.60}")
    for key in raw:
        if key not in _KNOWN:
            raise ConfigError(
                f"`otel.{key}` is not a known key; known keys: {', '.join(_KNOWN)} "
                "(endpoint, headers and service name come from the OTEL_* environment variables)"
            )
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"`otel.enabled` must be true or false, got {enabled!r:.40}")
    if enabled and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        raise ConfigError(
            "`otel.enabled` needs the OpenTelemetry SDK and OTLP exporter: pip install 'palaryn-proxy[otel]'"
        )
    return OtelConfig(enabled=enabled)
