"""Request cost in USD (Decimal) from config overrides and genai-prices' bundled, offline price snapshot."""

from palaryn_proxy.pricing.book import PriceBook
from palaryn_proxy.pricing.limits import DEFAULT_MAX_OUTPUT_TOKENS, default_max_output_tokens
from palaryn_proxy.pricing.overrides import ModelPrice, parse_overrides
from palaryn_proxy.pricing.snapshot import GENAI_PRICES_VERSION, PROVIDER_IDS
from palaryn_proxy.pricing.unpriced import UnpricedModels

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "GENAI_PRICES_VERSION",
    "PROVIDER_IDS",
    "ModelPrice",
    "PriceBook",
    "UnpricedModels",
    "default_max_output_tokens",
    "parse_overrides",
]
