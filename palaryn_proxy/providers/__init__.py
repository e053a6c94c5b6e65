"""LLM provider adapters: recognise LLM calls by host and path, read exact usage from JSON and streams."""

from .base import Adapter, LLMRequest, LLMResult, StreamParser, content_shape
from .decoding import ContentDecoder
from .openai import add_stream_usage_option
from .registry import ProviderRegistry

__all__ = [
    "Adapter",
    "ContentDecoder",
    "LLMRequest",
    "LLMResult",
    "ProviderRegistry",
    "StreamParser",
    "add_stream_usage_option",
    "content_shape",
]
