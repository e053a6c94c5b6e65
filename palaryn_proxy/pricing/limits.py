"""Default output-token caps per model family, used for worst-case cost when a request sets no maximum.

genai-prices records context windows but not output limits, so this is a small table of the providers'
published maximum output tokens (checked against their model pages, Nov 2026). A request without
`max_tokens` / `max_output_tokens` may run up to this cap, so it is the honest worst case for a budget
reservation. Unknown models get DEFAULT_MAX_OUTPUT_TOKENS; embeddings produce no output (0).
"""

from __future__ import annotations

import functools
import re

DEFAULT_MAX_OUTPUT_TOKENS = 16_384

# (model name prefix, max output tokens); the longest matching prefix wins.
_MAX_OUTPUT: tuple[tuple[str, int], ...] = (
    # OpenAI
    ("gpt-5", 128_000),
    ("gpt-5-chat", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-4.5", 16_384),
    ("gpt-4o", 16_384),
    ("chatgpt-4o", 16_384),
    ("gpt-4-turbo", 4_096),
    ("gpt-4-1106", 4_096),
    ("gpt-4-0125", 4_096),
    ("gpt-4", 8_192),
    ("gpt-3.5", 4_096),
    ("gpt-35", 4_096),
    ("o1", 100_000),
    ("o1-mini", 65_536),
    ("o1-preview", 32_768),
    ("o3", 100_000),
    ("o4-mini", 100_000),
    ("text-embedding-", 0),
    # Anthropic
    ("claude-opus-4", 32_000),
    ("claude-opus-4-5", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5", 8_192),
    ("claude-3", 4_096),
    # Google
    ("gemini-3", 65_536),
    ("gemini-2.5", 65_536),
    ("gemini-2.0", 8_192),
    ("gemini-1.5", 8_192),
    ("text-embedding-004", 0),
    ("gemini-embedding", 0),
    # DeepSeek
    ("deepseek-chat", 8_192),
    ("deepseek-reasoner", 64_000),
    # Mistral
    ("mistral-embed", 0),
)
_BY_LENGTH = tuple(sorted(_MAX_OUTPUT, key=lambda item: len(item[0]), reverse=True))

# Strip routing decorations so one table serves every host: "openai/gpt-4o" (OpenRouter),
# "us.anthropic.claude-sonnet-4-5-...-v1:0" (Bedrock), "claude-sonnet-4-5@20250929" (Vertex).
_BEDROCK_PREFIX = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?"
    r"(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|writer|qwen)\."
)


@functools.lru_cache(maxsize=1024)
def default_max_output_tokens(model: str | None) -> int:
    """The output cap assumed for `model` when the request sets none (see the module docstring)."""
    if not model:
        return DEFAULT_MAX_OUTPUT_TOKENS
    name = model.strip().lower().rsplit("/", 1)[-1].split("@", 1)[0]
    name = _BEDROCK_PREFIX.sub("", name)
    for prefix, tokens in _BY_LENGTH:
        if name.startswith(prefix):
            return tokens
    return DEFAULT_MAX_OUTPUT_TOKENS
