"""OpenTelemetry export of finished flows (the `otel` extra): spans and GenAI metrics over OTLP/HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaryn_proxy.telemetry.attributes import FlowFacts, finish_reasons
from palaryn_proxy.telemetry.config import OtelConfig, parse_otel_config

if TYPE_CHECKING:
    from palaryn_proxy.telemetry.exporter import Telemetry


def open_telemetry(**kwargs: Any) -> Telemetry:
    """The exporter (imported only when `otel.enabled`: the SDK is an optional extra)."""
    from palaryn_proxy.telemetry.exporter import Telemetry

    return Telemetry(**kwargs)


__all__ = ["FlowFacts", "OtelConfig", "finish_reasons", "open_telemetry", "parse_otel_config"]
