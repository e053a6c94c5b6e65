"""Cohere v2 chat (api.cohere.com `/v2/chat`, JSON and SSE) and its OpenAI-compatible paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import Usage
from .base import OPENAI_APIS, Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .embeddings import cohere_embed_result, embed_request
from .fields import as_dict, as_str, count, load_json, opt_int, opt_str, text_of, usage_dict
from .openai import OpenAIAdapter, clean_path
from .sse import SSEDecoder


def cohere_usage(raw: Any) -> Usage:
    """Cohere v2: usage.billed_units {input_tokens, output_tokens} is what is billed (the prompt
    template Cohere adds is not); usage.tokens counts what the model actually read and wrote. We report
    billed units, falling back to tokens. usage.cached_tokens counts raw tokens (a part of
    usage.tokens.input_tokens, not of the billed units), so it is a cache read only when the raw counts
    are what we report. Reasoning is not reported separately."""
    u = usage_dict(raw, "usage")
    billed = as_dict(u.get("billed_units"))
    path = "usage.billed_units"
    cached = count(u, "cached_tokens", "usage")
    if billed:
        cached = 0
    else:
        billed, path = as_dict(u.get("tokens")), "usage.tokens"
    input_tokens = count(billed, "input_tokens", path, required=True)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=count(billed, "output_tokens", path),
        cache_read_tokens=min(cached, input_tokens),
    )


def _message_output(message: dict[str, Any]) -> tuple[str, list[str]]:
    """(generated text, called tools) of a v2 assistant message (or a stream delta's message)."""
    content = message.get("content")
    parts = content if isinstance(content, list) else [content]
    text = as_str(message.get("tool_plan"))
    for part in parts:
        part = as_dict(part)
        text += as_str(part.get("text")) + as_str(part.get("thinking"))
    tools: list[str] = []
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else [calls]:
        function = as_dict(as_dict(call).get("function"))
        if name := opt_str(function.get("name")):
            tools.append(name)
        text += as_str(function.get("arguments"))
    return text, tools


class CohereAdapter(Adapter):
    id = "cohere"
    error_style = "cohere"
    hosts = ("api.cohere.com", "api.cohere.ai")

    def __init__(self) -> None:
        self._openai = OpenAIAdapter(self.id, ())  # /compatibility/v1/chat/completions

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        if clean_path(path) in ("/v1/embed", "/v2/embed") and method.upper() == "POST":
            return embed_request(self.id, "cohere.embed", None, body)
        if clean_path(path) != "/v2/chat":
            return self._openai.parse_request(method, path, query, headers, body)
        if method.upper() != "POST":
            return None
        try:
            data = as_dict(load_json(body)) if body.strip() else {}
        except ValueError:
            data = {}
        stream = data.get("stream") is True
        return LLMRequest(
            provider=self.id,
            api="cohere.chat",
            model=opt_str(data.get("model")),
            stream=stream,
            max_output_tokens=opt_int(data.get("max_tokens")),
            prompt_text=text_of(data.get("messages"), data.get("tools"), data.get("documents")),
            stream_shape="sse" if stream else None,
        )

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        if req.api in OPENAI_APIS:
            return self._openai.parse_json(req, data)
        if req.api == "cohere.embed":
            return cohere_embed_result(req, data)
        obj = as_dict(data)
        usage, problem = usage_or_problem(cohere_usage, obj.get("usage"))
        text, tools = _message_output(as_dict(obj.get("message")))
        # v2 responses do not name the model: it is the one in the request.
        return LLMResult(model=req.model, usage=usage, output_text=text, tool_calls=tools, problem=problem)

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        if req.api in OPENAI_APIS:
            return self._openai.make_stream_parser(req, shape)
        return CohereStreamParser(req) if shape == "sse" else None


class CohereStreamParser(StreamParser):
    """Typed events (message-start, content-delta, tool-plan-delta, tool-call-start/-delta, ...); usage
    and any error arrive in the final `message-end` event's delta."""

    def __init__(self, req: LLMRequest) -> None:
        super().__init__(req, SSEDecoder(), "sse", "cohere")

    def on_event(self, name: str | None, data: Any) -> None:
        event = as_dict(data)
        kind = as_str(event.get("type")) or (name or "")
        delta = as_dict(event.get("delta"))
        if kind == "message-end":
            self.done = True
            if delta.get("error"):
                self.set_error(delta.get("finish_reason") or "error")
            if delta.get("usage") is not None:
                self.set_usage(cohere_usage, delta["usage"])
            return
        text, tools = _message_output(as_dict(delta.get("message")))
        for tool in tools:
            self.add_tool(tool)
        self.add_text(text)
