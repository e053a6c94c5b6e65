"""Anthropic Messages API (api.anthropic.com `/v1/messages`), JSON and SSE, with prompt-cache tokens."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..types import Usage
from .base import Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .details import anthropic_details
from .fields import as_dict, as_list, as_str, count, load_json, opt_int, opt_str, text_of, usage_dict
from .frames import Framer
from .openai import clean_path
from .sse import SSEDecoder

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def anthropic_usage(raw: Any) -> Usage:
    """Anthropic: input_tokens EXCLUDES the prompt cache — cache_read_input_tokens and
    cache_creation_input_tokens are reported beside it — so input = input_tokens + cache reads + cache
    writes (cache_creation splits the writes by lifetime into details). output_tokens includes
    extended-thinking tokens; output_tokens_details.thinking_tokens, where reported, is that part."""
    u = usage_dict(raw, "usage")
    read = count(u, "cache_read_input_tokens", "usage")
    write = count(u, "cache_creation_input_tokens", "usage")
    details = anthropic_details(u)
    # Some responses report only the split: the writes are then its sum.
    write = write or details.get("cache_write_5m_tokens", 0) + details.get("cache_write_1h_tokens", 0)
    return Usage(
        input_tokens=count(u, "input_tokens", "usage", required=True) + read + write,
        output_tokens=count(u, "output_tokens", "usage", required=True),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=count(as_dict(u.get("output_tokens_details")), "thinking_tokens", "usage"),
        details=details,
        service_tier=opt_str(u.get("service_tier")),
    )


def messages_request(provider: str, body: bytes, model: str | None = None) -> LLMRequest:
    """An LLMRequest from a Messages API body (`model` given when the path names it, as on Vertex)."""
    try:
        data = as_dict(load_json(body)) if body.strip() else {}
    except ValueError:
        data = {}
    stream = data.get("stream") is True
    return LLMRequest(
        provider=provider,
        api="messages",
        model=opt_str(data.get("model")) or model,
        stream=stream,
        max_output_tokens=opt_int(data.get("max_tokens")),
        prompt_text=text_of(data.get("system"), data.get("messages"), data.get("tools")),
        message_count=len(data["messages"]) if isinstance(data.get("messages"), list) else 0,
        stream_shape="sse" if stream else None,
    )


def messages_result(req: LLMRequest, data: Any) -> LLMResult:
    """Read a non-streamed Messages API response."""
    obj = as_dict(data)
    usage, problem = usage_or_problem(anthropic_usage, obj.get("usage"))
    texts: list[str] = []
    tools: list[str] = []
    for block in as_list(obj.get("content")):
        block = as_dict(block)
        texts += [as_str(block.get("text")), as_str(block.get("thinking"))]
        if block.get("type") in _TOOL_BLOCKS:
            if name := opt_str(block.get("name")):
                tools.append(name)
            if block.get("input") is not None:
                texts.append(json.dumps(block["input"], ensure_ascii=False))
    return LLMResult(
        model=opt_str(obj.get("model")) or req.model,
        usage=usage,
        output_text="".join(texts),
        tool_calls=tools,
        problem=problem,
    )


class AnthropicAdapter(Adapter):
    id = "anthropic"
    error_style = "anthropic"
    hosts = ("api.anthropic.com",)

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        # /v1/messages/count_tokens and /v1/messages/batches are not generations.
        if method.upper() != "POST" or not clean_path(path).endswith("/v1/messages"):
            return None
        return messages_request(self.id, body)

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        return messages_result(req, data)

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        return AnthropicStreamParser(req) if shape == "sse" else None


class AnthropicStreamParser(StreamParser):
    """message_start carries the input side of usage (and output_tokens: 1 or so); message_delta
    carries cumulative usage (output_tokens, and on newer API versions the input fields too);
    message_stop ends the stream; `event: error` reports an overload or similar mid-stream."""

    def __init__(self, req: LLMRequest, framer: Framer | None = None, shape: str = "sse") -> None:
        super().__init__(req, framer or SSEDecoder(), shape, "anthropic")
        self._usage: dict[str, Any] = {}

    def on_event(self, name: str | None, data: Any) -> None:
        event = as_dict(data)
        kind = as_str(event.get("type")) or (name or "")
        if kind == "content_block_delta":
            delta = as_dict(event.get("delta"))
            for key in ("text", "thinking", "partial_json"):
                self.add_text(delta.get(key))
        elif kind == "content_block_start":
            block = as_dict(event.get("content_block"))
            if block.get("type") in _TOOL_BLOCKS:
                self.add_tool(block.get("name"))
            self.add_text(block.get("text"))
        elif kind == "message_start":
            message = as_dict(event.get("message"))
            self.set_model(message.get("model"))
            self._usage = dict(as_dict(message.get("usage")))
        elif kind == "message_delta":
            self._delta_usage(event.get("usage"))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.set_error(as_dict(event.get("error")).get("type") or "error")

    def _delta_usage(self, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.note("usage is not an object")
            return
        self._usage.update({k: v for k, v in raw.items() if v is not None})
        self.set_usage(anthropic_usage, self._usage)
