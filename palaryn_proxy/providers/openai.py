"""OpenAI (api.openai.com): chat completions, Responses API, legacy completions, embeddings; the base of
every OpenAI-compatible adapter, plus `add_stream_usage_option` for `force_stream_usage`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..types import Usage
from .base import Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .details import openai_token_details, provider_cost, put, responses_tool_details
from .errorbody import responses_error_event
from .fields import as_dict, as_list, as_str, count, load_json, opt_int, opt_str, text_of, usage_dict
from .sse import SSEDecoder

# Path suffix -> api; the first match wins, so /chat/completions comes before /completions.
ENDPOINTS = (
    ("/chat/completions", "chat.completions"),
    ("/responses", "responses"),
    ("/responses/compact", "responses"),
    ("/images/generations", "images"),
    ("/images/edits", "images"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
)

# Providers known to accept `stream_options.include_usage` on chat/completions streams (the others
# already send usage in their last chunk or would reject the field).
STREAM_USAGE_PROVIDERS = frozenset({"openai", "azure", "deepseek", "xai", "ollama", "openai_compatible"})
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"  # older Azure api-versions reject unknown fields


def chat_usage(raw: Any) -> Usage:
    """Usage of chat completions, legacy completions and embeddings.

    OpenAI semantics, already the normalised convention: prompt_tokens counts every input token, cached
    ones included (prompt_tokens_details.cached_tokens, and cache_write_tokens where reported, are parts
    of it); completion_tokens counts every output token, reasoning included
    (completion_tokens_details.reasoning_tokens is part of it). Embeddings report no completion_tokens.
    Compatible hosts may put the reasoning part top-level (`reasoning_tokens`) and Mistral the cached
    part in `num_cached_tokens`; audio / image parts go to details, OpenRouter's `cost` beside ours.
    """
    u = usage_dict(raw, "usage")
    prompt = as_dict(u.get("prompt_tokens_details"))
    completion = as_dict(u.get("completion_tokens_details"))
    cached = count(prompt, "cached_tokens", "usage.prompt_tokens_details")
    reasoning = count(completion, "reasoning_tokens", "usage.completion_tokens_details")
    return Usage(
        input_tokens=count(u, "prompt_tokens", "usage", required=True),
        output_tokens=count(u, "completion_tokens", "usage"),
        cache_read_tokens=cached or count(u, "num_cached_tokens", "usage"),
        cache_write_tokens=count(prompt, "cache_write_tokens", "usage.prompt_tokens_details"),
        reasoning_tokens=reasoning or count(u, "reasoning_tokens", "usage"),
        details=openai_token_details(u, "prompt_tokens_details", "completion_tokens_details"),
        provider_cost_usd=provider_cost(u.get("cost")),
    )


def responses_usage(raw: Any) -> Usage:
    """Usage of the Responses API: input_tokens includes cached ones (input_tokens_details.cached_tokens
    is part of it); output_tokens includes reasoning (output_tokens_details.reasoning_tokens). The same
    shape serves the compact endpoint and image generation (input/output image and audio parts)."""
    u = usage_dict(raw, "usage")
    details_in = as_dict(u.get("input_tokens_details"))
    details_out = as_dict(u.get("output_tokens_details"))
    return Usage(
        input_tokens=count(u, "input_tokens", "usage", required=True),
        output_tokens=count(u, "output_tokens", "usage", required=True),
        cache_read_tokens=count(details_in, "cached_tokens", "usage.input_tokens_details"),
        cache_write_tokens=count(details_in, "cache_write_tokens", "usage.input_tokens_details"),
        reasoning_tokens=count(details_out, "reasoning_tokens", "usage.output_tokens_details"),
        details=openai_token_details(u, "input_tokens_details", "output_tokens_details"),
        provider_cost_usd=provider_cost(u.get("cost")),
    )


def images_usage(raw: Any) -> Usage:
    """Image generation / edits (gpt-image-*): Responses-style usage; output tokens are image tokens
    unless `output_tokens_details` splits them."""
    usage = responses_usage(raw)
    if not any(k.startswith("output_") for k in usage.details):
        put(usage.details, "output_image_tokens", usage.output_tokens)
    return usage


def finish_usage(usage: Usage | None, obj: dict[str, Any], req: LLMRequest) -> None:
    """Response-level billing facts: the service tier the response reports (else the request's), and
    for the Responses API the built-in tool calls billed per use."""
    if usage is None:
        return
    usage.service_tier = opt_str(obj.get("service_tier")) or usage.service_tier or req.service_tier
    if req.api == "responses":
        usage.details.update(responses_tool_details(obj.get("output")))


def clean_path(path: str) -> str:
    """The path without query string or trailing slash."""
    return path.split("?", 1)[0].rstrip("/")


def api_for_path(path: str) -> str | None:
    for suffix, api in ENDPOINTS:
        if path.endswith(suffix):
            return api
    return None


def _first_int(*values: Any) -> int | None:
    for value in values:
        if (number := opt_int(value)) is not None:
            return number
    return None


def _body_dict(body: bytes) -> dict[str, Any]:
    try:
        return as_dict(load_json(body)) if body.strip() else {}
    except ValueError:
        return {}


def openai_request(
    provider: str, api: str, body: bytes, deployment: str | None = None, api_version: str | None = None
) -> LLMRequest:
    """An LLMRequest from an OpenAI-style body (a broken body still yields a request, fields unknown)."""
    data = _body_dict(body)
    stream = data.get("stream") is True and api != "embeddings"
    if api == "chat.completions":
        max_out = _first_int(data.get("max_completion_tokens"), data.get("max_tokens"))
        prompt = text_of(data.get("messages"), data.get("tools"), data.get("functions"))
    elif api == "responses":
        max_out = opt_int(data.get("max_output_tokens"))
        prompt = text_of(data.get("instructions"), data.get("input"), data.get("tools"))
    elif api == "completions":
        max_out = opt_int(data.get("max_tokens"))
        prompt = text_of(data.get("prompt"), data.get("suffix"))
    else:
        max_out, prompt = None, text_of(data.get("input"))
    return LLMRequest(
        provider=provider,
        api=api,
        service_tier=opt_str(data.get("service_tier")),
        model=opt_str(data.get("model")) or deployment,
        stream=stream,
        max_output_tokens=max_out,
        prompt_text=prompt,
        message_count=_count(data.get("messages") if api == "chat.completions" else data.get("input")),
        stream_shape="sse" if stream else None,
        deployment=deployment,
        api_version=api_version,
    )


def content_text(value: Any) -> str:
    """Message content that is a string or a list of parts."""
    return value if isinstance(value, str) else text_of(value) if isinstance(value, list) else ""


def choices(data: Any) -> list[dict[str, Any]]:
    return [c for c in as_list(as_dict(data).get("choices")) if isinstance(c, dict)]


class OpenAIAdapter(Adapter):
    """The OpenAI API; instantiate with another id and hosts for a compatible provider."""

    id = "openai"
    error_style = "openai"
    hosts: tuple[str, ...] = ("api.openai.com",)

    def __init__(self, id: str | None = None, hosts: tuple[str, ...] | None = None) -> None:
        if id is not None:
            self.id = id
        if hosts is not None:
            self.hosts = hosts

    # --- override points for compatible providers ---------------------------------------------

    def chat_usage(self, raw: Any) -> Usage:
        return chat_usage(raw)

    def responses_usage(self, raw: Any) -> Usage:
        return responses_usage(raw)

    def chunk_usage(self, chunk: dict[str, Any]) -> Any:
        """The raw usage object of one streamed chunk (None when it carries none)."""
        return chunk.get("usage")

    def endpoint(self, path: str) -> tuple[str, str | None] | None:
        """(api, deployment) for a cleaned path, or None if it is not an LLM call."""
        api = api_for_path(path)
        return (api, None) if api else None

    # --- Adapter ----------------------------------------------------------------------------------

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        if method.upper() != "POST":
            return None
        found = self.endpoint(clean_path(path))
        if found is None:
            return None
        api, deployment = found
        return openai_request(self.id, api, body, deployment, query.get("api-version"))

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        if req.api in ("responses", "images"):
            return self._responses_result(req, as_dict(data))
        obj = as_dict(data)
        usage, problem = usage_or_problem(self.chat_usage, obj.get("usage"))
        finish_usage(usage, obj, req)
        texts: list[str] = []
        tools: list[str] = []
        for choice in choices(obj):
            message = as_dict(choice.get("message"))
            texts.append(content_text(message.get("content")) if message else as_str(choice.get("text")))
            texts += [as_str(message.get(k)) for k in ("reasoning_content", "reasoning", "refusal")]
            calls = as_list(message.get("tool_calls")) + [message.get("function_call")]
            for call in calls:
                function = as_dict(as_dict(call).get("function")) or as_dict(call)
                if name := opt_str(function.get("name")):
                    tools.append(name)
                texts.append(as_str(function.get("arguments")))
        return LLMResult(
            model=opt_str(obj.get("model")) or req.model,
            usage=usage,
            output_text="".join(texts),
            tool_calls=tools,
            problem=problem,
        )

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        if shape != "sse":
            return None
        if req.api == "responses":
            return ResponsesStreamParser(req, self)
        return ChatStreamParser(req, self)

    def _responses_result(self, req: LLMRequest, obj: dict[str, Any]) -> LLMResult:
        convert = images_usage if req.api == "images" else self.responses_usage
        usage, problem = usage_or_problem(convert, obj.get("usage"))
        finish_usage(usage, obj, req)
        texts: list[str] = []
        tools: list[str] = []
        for item in as_list(obj.get("output")):
            item = as_dict(item)
            if name := tool_of_item(item):
                tools.append(name)
            for key in ("arguments", "input", "code"):
                texts.append(as_str(item.get(key)))
            for part in as_list(item.get("content")) + as_list(item.get("summary")):
                part = as_dict(part)
                texts += [as_str(part.get("text")), as_str(part.get("refusal"))]
        return LLMResult(
            model=opt_str(obj.get("model")) or req.model,
            usage=usage,
            output_text="".join(texts),
            tool_calls=tools,
            problem=problem,
        )


def tool_of_item(item: dict[str, Any]) -> str | None:
    """The tool a Responses output item calls: a function / custom / MCP tool by name, a built-in tool
    (web_search_call, code_interpreter_call, ...) by its type without `_call`."""
    kind = as_str(item.get("type"))
    if kind in ("function_call", "custom_tool_call", "mcp_call"):
        return opt_str(item.get("name"))
    if kind.endswith("_call"):
        return kind[: -len("_call")]
    return None


# Responses API stream events whose `delta` is generated text (output, reasoning, tool arguments).
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.mcp_call_arguments.delta",
        "response.code_interpreter_call_code.delta",
    }
)
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ChatStreamParser(StreamParser):
    """Chat / legacy completions SSE: deltas, then (with include_usage, or always for some providers) a
    chunk carrying `usage` — which may also carry choices — and `data: [DONE]`."""

    def __init__(self, req: LLMRequest, adapter: OpenAIAdapter) -> None:
        super().__init__(req, SSEDecoder(), "sse", "openai")
        self._adapter = adapter
        self._tier: str | None = None

    def on_event(self, name: str | None, data: Any) -> None:
        chunk = as_dict(data)
        if chunk.get("error"):
            error = as_dict(chunk["error"])
            self.set_error(error.get("type") or error.get("code") or "error")
            return
        self.set_model(chunk.get("model"))
        for choice in choices(chunk):
            if "delta" not in choice:  # legacy completions; Together sends both, text mirroring delta
                self.add_text(choice.get("text"))
                continue
            delta = as_dict(choice.get("delta"))
            self.add_text(content_text(delta.get("content")))
            for key in ("reasoning_content", "reasoning", "refusal"):
                self.add_text(delta.get(key))
            for call in as_list(delta.get("tool_calls")) + [delta.get("function_call")]:
                function = as_dict(as_dict(call).get("function")) or as_dict(call)
                if function.get("name"):
                    self.add_tool(function.get("name"))
                self.add_text(function.get("arguments"))
        self._tier = opt_str(chunk.get("service_tier")) or self._tier
        raw = self._adapter.chunk_usage(chunk)
        if raw is not None:
            self.set_usage(self._adapter.chat_usage, raw)
            finish_usage(self.usage, {"service_tier": self._tier}, self.req)


class ResponsesStreamParser(StreamParser):
    """Responses API SSE: typed events; usage only in the final `response.completed` (or `.incomplete`,
    `.failed`) event, nested in `response.usage`."""

    def __init__(self, req: LLMRequest, adapter: OpenAIAdapter) -> None:
        super().__init__(req, SSEDecoder(), "sse", "openai")
        self._adapter = adapter

    def on_event(self, name: str | None, data: Any) -> None:
        event = as_dict(data)
        kind = as_str(event.get("type")) or (name or "")
        if kind in _TEXT_DELTAS:
            self.add_text(event.get("delta"))
        elif kind == "response.output_item.added":
            if tool := tool_of_item(as_dict(event.get("item"))):
                self.add_tool(tool)
        elif kind in ("response.created", "response.in_progress"):
            self.set_model(as_dict(event.get("response")).get("model"))
        elif kind in _FINAL_EVENTS:
            self._final(kind, as_dict(event.get("response")))
        elif kind == "error":
            self.set_error(event.get("code") or "error")

    def _final(self, kind: str, response: dict[str, Any]) -> None:
        self.done = True
        self.set_model(response.get("model"))
        if kind == "response.failed":
            self.set_error(as_dict(response.get("error")).get("code") or "response_failed")
        if response.get("usage") is not None:
            self.set_usage(self._adapter.responses_usage, response["usage"])
            finish_usage(self.usage, response, self.req)

    def error_event(self, message: str, code: str, status: int = 429) -> bytes:
        return responses_error_event(message, code)


def add_stream_usage_option(req: LLMRequest, body: bytes) -> bytes | None:
    """For `force_stream_usage`: the request body with `stream_options.include_usage = true`, or None
    when not applicable (not an OpenAI-style chat/completions stream, a provider that does not take the
    option, an Azure api-version older than 2024-09-01, a body that is not JSON, or already set).

    The client then sees one extra final chunk with empty `choices` and the usage (the OpenAI SDKs
    handle it). Re-serialised compactly; key order is kept.
    """
    if not req.stream or req.api not in ("chat.completions", "completions"):
        return None
    if req.provider not in STREAM_USAGE_PROVIDERS:
        return None
    if req.provider == "azure" and req.api_version and req.api_version < _AZURE_STREAM_OPTIONS_SINCE:
        return None
    try:
        data = load_json(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("stream") is not True:
        return None
    options = data.get("stream_options")
    if options is None:
        options = {}
    if not isinstance(options, dict) or options.get("include_usage") is True:
        return None
    data["stream_options"] = {**options, "include_usage": True}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _count(value: object) -> int:
    """How many messages a chat prompt holds (a plain string input counts as one)."""
    if isinstance(value, list):
        return len(value)
    return 1 if isinstance(value, str) and value else 0
