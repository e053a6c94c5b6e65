"""The config sections owned by pipeline stages, each parsed once at load time into the typed value its stage
is handed (`Config.sections`); every parser raises ConfigError naming its key and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaryn_proxy.anomaly import AnomalyConfig
from palaryn_proxy.budget import BudgetConfig, parse_budget_config
from palaryn_proxy.console.config import AdminConfig, parse_admin_config
from palaryn_proxy.credentials import CredentialsConfig, parse_credentials
from palaryn_proxy.dlp import DlpConfig
from palaryn_proxy.events.config import EventsConfig, parse_events_config
from palaryn_proxy.policy import PolicyEngine
from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.providers.registry import ProviderRegistry
from palaryn_proxy.ratelimit import RateLimitConfig, parse_rate_limit_config
from palaryn_proxy.ssrf import SsrfConfig
from palaryn_proxy.storage import StorageConfig, parse_storage_config
from palaryn_proxy.storage.factory import DEFAULT_URL, sqlite_path
from palaryn_proxy.telemetry.config import OtelConfig, parse_otel_config
from palaryn_proxy.toolguard.config import McpGuardConfig, parse_mcp_config
from palaryn_proxy.toolguard.flows import FlowGuardConfig, parse_flow_guard
from palaryn_proxy.usage import pricing_overrides


@dataclass(frozen=True, slots=True)
class Sections:
    storage: StorageConfig
    budgets: BudgetConfig
    rate_limits: RateLimitConfig
    providers: ProviderRegistry
    prices: PriceBook
    policy: PolicyEngine  # the packs, read from their files at load (and again on reload)
    ssrf: SsrfConfig
    dlp: DlpConfig  # dlp and injection
    anomaly: AnomalyConfig
    admin: AdminConfig
    events: EventsConfig
    credentials: CredentialsConfig
    otel: OtelConfig = OtelConfig()
    mcp: McpGuardConfig = McpGuardConfig()
    flow_guard: FlowGuardConfig = FlowGuardConfig()


def adapter_hosts(providers: Mapping[str, Any]) -> list[str]:
    """Hosts config gives to LLM adapters (a local Ollama or vLLM): the SSRF guard allows them as configured."""
    return [
        h for entry in (providers or {}).values() if isinstance(entry, dict) for h in entry.get("hosts") or []
    ]


def default_events_url(values: Mapping[str, Any]) -> str:
    """`events.db` beside the SQLite budget store, else beside the audit log."""
    storage = values.get("storage") or {}
    url = storage.get("url", DEFAULT_URL) if isinstance(storage, Mapping) else ""
    if isinstance(url, str) and url.startswith("sqlite://"):
        beside = Path(sqlite_path(url)).expanduser().parent
    else:
        beside = Path(str(values.get("audit_log") or "./audit.jsonl")).expanduser().parent
    return f"sqlite://{(beside / 'events.db').resolve()}"  # an absolute path: sqlite:///...


def parse(values: Mapping[str, Any], base_dir: Path | None) -> Sections:
    """Parse every stage's section of a validated config's values (pack paths relative to `base_dir`)."""
    return Sections(
        storage=parse_storage_config(values),
        budgets=parse_budget_config(values),
        rate_limits=parse_rate_limit_config(values),
        providers=ProviderRegistry.from_config(values["providers"]),
        prices=PriceBook(pricing_overrides(values["pricing"])),
        policy=PolicyEngine.from_config(values, base_dir=base_dir),
        ssrf=SsrfConfig.from_mapping(values["ssrf"], extra_allow_hosts=adapter_hosts(values["providers"])),
        dlp=DlpConfig.from_mapping(values["dlp"], values["injection"]),
        anomaly=AnomalyConfig.from_mapping(values["anomaly"]),
        admin=parse_admin_config(values),
        events=parse_events_config(values, default_events_url(values)),
        credentials=parse_credentials(values["credentials"], values["credentials_required"], base_dir),
        otel=parse_otel_config(values),
        mcp=parse_mcp_config(values),
        flow_guard=parse_flow_guard(values),
    )
