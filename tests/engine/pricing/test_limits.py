"""Default output caps used for worst-case cost when a request sets no maximum."""

from __future__ import annotations

import pytest

from palaryn_proxy.pricing import DEFAULT_MAX_OUTPUT_TOKENS, default_max_output_tokens


@pytest.mark.parametrize(
    ("model", "cap"),
    [
        ("gpt-4o", 16_384),
        ("gpt-4o-mini-2024-07-18", 16_384),
        ("gpt-4.1-mini", 32_768),
        ("gpt-4", 8_192),
        ("gpt-4-turbo-2024-04-09", 4_096),
        ("gpt-5", 128_000),
        ("gpt-5-chat-latest", 16_384),
        ("o1-mini", 65_536),
        ("o3-mini", 100_000),
        ("text-embedding-3-small", 0),
        ("claude-sonnet-4-5-20250929", 64_000),
        ("claude-opus-4-1", 32_000),
        ("claude-3-5-haiku-latest", 8_192),
        ("claude-3-haiku-20240307", 4_096),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64_000),
        ("claude-sonnet-4-5@20250929", 64_000),
        ("openai/gpt-4.1", 32_768),
        ("gemini-2.5-pro", 65_536),
        ("gemini-2.0-flash", 8_192),
        ("deepseek-reasoner", 64_000),
        ("llama3.1:8b", DEFAULT_MAX_OUTPUT_TOKENS),
        (None, DEFAULT_MAX_OUTPUT_TOKENS),
    ],
)
def test_default_max_output_tokens(model: str | None, cap: int) -> None:
    assert default_max_output_tokens(model) == cap
