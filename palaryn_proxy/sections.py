"""Validation of the config sections owned by pipeline stages, run by load_config (and so `config check`)."""

from __future__ import annotations

from palaryn_proxy.anomaly import AnomalyConfig
from palaryn_proxy.budget import parse_budget_config
from palaryn_proxy.config import Config
from palaryn_proxy.dlp import DlpConfig
from palaryn_proxy.policy import PolicyEngine
from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.providers.registry import ProviderRegistry
from palaryn_proxy.ratelimit import parse_rate_limit_config
from palaryn_proxy.ssrf import SsrfConfig
from palaryn_proxy.storage import parse_storage_config
from palaryn_proxy.usage import pricing_overrides


def validate(config: Config) -> None:
    """Parse every stage's section once; each parser raises ConfigError naming its key and the fix."""
    ProviderRegistry.from_config(config.providers)
    PriceBook(pricing_overrides(config))
    parse_storage_config(config.values)
    parse_budget_config(config.values)
    parse_rate_limit_config(config.values)
    PolicyEngine.from_config(config.values, base_dir=config.source.parent if config.source else None)
    SsrfConfig.from_mapping(config.ssrf)
    DlpConfig.from_mapping(config.dlp, config.injection)
    AnomalyConfig.from_mapping(config.anomaly)
