"""Config price overrides (`pricing.overrides`): parsed once into typed prices, matched by exact name or glob."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.types import Usage

PER_MTOK = Decimal(1_000_000)
PER_K = Decimal(1_000)
PRICE_KEYS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "cache_write_1h_per_mtok",
    "input_audio_per_mtok",
    "output_audio_per_mtok",
    "input_image_per_mtok",
    "output_image_per_mtok",
    "web_search_per_k",
    "code_execution_per_k",
)
# Parts of input / output (usage.details key -> override key) priced at their own rate when one is set.
_INPUT_PARTS = (
    ("input_audio_tokens", "input_audio_per_mtok"),
    ("input_image_tokens", "input_image_per_mtok"),
)
_OUTPUT_PARTS = (
    ("output_audio_tokens", "output_audio_per_mtok"),
    ("output_image_tokens", "output_image_per_mtok"),
)
_PER_USE = (("web_searches", "web_search_per_k"), ("code_executions", "code_execution_per_k"))
REQUIRED_KEYS = ("input_per_mtok", "output_per_mtok")
_GLOB_CHARS = re.compile(r"[*?\[]")
_EXAMPLE = "e.g. pricing.overrides: {my-llama-*: {input_per_mtok: 0.2, output_per_mtok: 0.6}}"


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens. A cache price left unset (None) bills those tokens at the input price."""

    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None
    input_audio_per_mtok: Decimal | None = None
    output_audio_per_mtok: Decimal | None = None
    input_image_per_mtok: Decimal | None = None
    output_image_per_mtok: Decimal | None = None
    web_search_per_k: Decimal | None = None
    code_execution_per_k: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal:
        """Cost of `usage` (normalised convention: input includes cache tokens, output includes reasoning).

        Parts with a price of their own (1-hour cache writes, audio / image tokens) are taken out of their
        whole and billed at it; per-use counts (web searches, code executions) are billed per thousand."""
        details = usage.details
        input_price = self.input_per_mtok or Decimal(0)
        output_price = self.output_per_mtok or Decimal(0)
        read_price = input_price if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        write_price = input_price if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        cache_read, cache_write = max(usage.cache_read_tokens, 0), max(usage.cache_write_tokens, 0)
        write_1h = min(max(details.get("cache_write_1h_tokens", 0), 0), cache_write)
        write_1h_price = write_price if self.cache_write_1h_per_mtok is None else self.cache_write_1h_per_mtok
        uncached = max(usage.input_tokens - cache_read - cache_write, 0)
        output = max(usage.output_tokens, usage.reasoning_tokens, 0)
        total = (
            cache_read * read_price
            + (cache_write - write_1h) * write_price
            + write_1h * write_1h_price
            + self._parts(uncached, input_price, details, _INPUT_PARTS)
            + self._parts(output, output_price, details, _OUTPUT_PARTS)
        )
        per_use = sum(
            (max(details.get(key, 0), 0) * (getattr(self, price) or 0) for key, price in _PER_USE),
            Decimal(0),
        )
        return total / PER_MTOK + per_use / PER_K

    def _parts(
        self, whole: int, price: Decimal, details: Mapping[str, int], parts: tuple[tuple[str, str], ...]
    ) -> Decimal:
        """`whole` tokens at `price`, except the parts whose own price is set (capped at the whole)."""
        total, rest = Decimal(0), whole
        for key, price_key in parts:
            own = getattr(self, price_key)
            n = min(max(details.get(key, 0), 0), rest)
            if own is not None and n:
                total += n * own
                rest -= n
        return total + rest * price


@dataclass(frozen=True)
class Overrides:
    """Parsed overrides: exact names (lower-cased) first, then globs in config order."""

    exact: Mapping[str, ModelPrice]
    globs: tuple[tuple[re.Pattern[str], ModelPrice], ...]

    def match(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        name = model.strip().lower()
        found = self.exact.get(name)
        if found is not None:
            return found
        for pattern, price in self.globs:
            if pattern.match(name):
                return price
        return None


def parse_overrides(raw: Mapping[str, Any] | None) -> Overrides:
    """Validate `pricing.overrides`; raises ConfigError naming `pricing.overrides.<model>.<key>` and the fix."""
    if raw is None:
        return Overrides(exact={}, globs=())
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"pricing.overrides must be a mapping of model name (or glob) to prices; {_EXAMPLE}"
        )
    exact: dict[str, ModelPrice] = {}
    globs: list[tuple[re.Pattern[str], ModelPrice]] = []
    seen: set[str] = set()
    for model, entry in raw.items():
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(
                f"pricing.overrides has an empty or non-string model name {model!r}; {_EXAMPLE}"
            )
        name = model.strip().lower()
        if name in seen:
            raise ConfigError(
                f"pricing.overrides.{model} is defined twice (model names are case-insensitive); keep one"
            )
        seen.add(name)
        price = _parse_entry(model, entry)
        if _GLOB_CHARS.search(name):
            globs.append((re.compile(fnmatch.translate(name)), price))
        else:
            exact[name] = price
    return Overrides(exact=exact, globs=tuple(globs))


def _parse_entry(model: str, entry: Any) -> ModelPrice:
    where = f"pricing.overrides.{model}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping with input_per_mtok and output_per_mtok; {_EXAMPLE}")
    for key in entry:
        if key not in PRICE_KEYS:
            raise ConfigError(f"{where}.{key} is not a known key; use one of {', '.join(PRICE_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in entry:
            raise ConfigError(f"{where}.{key} is required (USD per million tokens; use 0 for a free model)")
    values = {key: _parse_price(f"{where}.{key}", entry[key]) for key in entry}
    return ModelPrice(**values)


def _parse_price(where: str, value: Any) -> Decimal:
    fix = f"{where} must be a non-negative number of USD per million tokens, e.g. 2.5 (got {value!r})"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(fix)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(fix)
    try:
        # str() first so a YAML float 0.1 becomes Decimal("0.1"), not its binary expansion.
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(fix) from None
    if not price.is_finite() or price < 0:
        raise ConfigError(fix)
    return price
