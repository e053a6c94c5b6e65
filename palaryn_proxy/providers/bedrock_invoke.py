"""Bedrock InvokeModel (`/model/{id}/invoke`, `/invoke-with-response-stream`): model-native bodies. Claude's
Messages format (the path Claude Code uses) is read fully; for every family the stream's final
`amazon-bedrock-invocationMetrics` gives exact usage."""

from __future__ import annotations

import base64
from typing import Any

from ..types import Usage
from .anthropic import AnthropicStreamParser, messages_result
from .base import LLMRequest, LLMResult
from .eventstream import EventStreamDecoder
from .fields import as_dict, as_str, count, load_json, opt_int, text_of, usage_dict

_MAX_KEYS = ("max_tokens", "max_gen_len", "max_new_tokens")


def invocation_metrics_usage(raw: Any) -> Usage:
    """amazon-bedrock-invocationMetrics: inputTokenCount EXCLUDES the prompt cache —
    cacheReadInputTokenCount and cacheWriteInputTokenCount are reported beside it, as in Converse — so
    input = all three; outputTokenCount includes any reasoning, not reported separately."""
    u = usage_dict(raw, "amazon-bedrock-invocationMetrics")
    path = "amazon-bedrock-invocationMetrics"
    read = count(u, "cacheReadInputTokenCount", path)
    write = count(u, "cacheWriteInputTokenCount", path)
    return Usage(
        input_tokens=count(u, "inputTokenCount", path, required=True) + read + write,
        output_tokens=count(u, "outputTokenCount", path, required=True),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def invoke_request(provider: str, model: str, stream: bool, body: bytes) -> LLMRequest:
    try:
        data = as_dict(load_json(body)) if body.strip() else {}
    except ValueError:
        data = {}
    inference = as_dict(data.get("inferenceConfig"))
    limits = [data.get(k) for k in _MAX_KEYS] + [inference.get("maxTokens"), inference.get("max_new_tokens")]
    max_out = next((n for n in map(opt_int, limits) if n is not None), None)
    prompt = text_of(data.get("system"), data.get("messages"), data.get("tools"), data.get("prompt"))
    return LLMRequest(
        provider=provider,
        api="invoke_stream" if stream else "invoke",
        model=model,
        stream=stream,
        max_output_tokens=max_out,
        prompt_text=prompt + text_of(data.get("inputText")),
        stream_shape="eventstream" if stream else None,
    )


def invoke_result(req: LLMRequest, data: Any) -> LLMResult:
    """A non-streamed InvokeModel answer: Claude's Messages JSON is read; other families' bodies carry
    no uniform usage (Bedrock puts it in X-Amzn-Bedrock-*-Token-Count headers instead)."""
    obj = as_dict(data)
    if obj.get("type") == "message":
        result = messages_result(req, obj)
        result.model = req.model  # the path's model id is the billed one
        return result
    return LLMResult(model=req.model, problem="no usage in response")


class InvokeStreamParser(AnthropicStreamParser):
    """Eventstream messages of type `chunk` whose payload is {"bytes": base64(model event JSON)}. Claude's
    events are Anthropic's own; other families send text under their own keys. The last event carries
    amazon-bedrock-invocationMetrics, which is taken as the exact usage for every family."""

    def __init__(self, req: LLMRequest) -> None:
        super().__init__(req, EventStreamDecoder(), "eventstream")
        self.style = "bedrock"

    def on_event(self, name: str | None, data: Any) -> None:
        if name != "chunk":
            return
        event = as_dict(load_json(base64.b64decode(as_str(as_dict(data).get("bytes")), validate=True)))
        super().on_event(None, event)
        for key in ("generation", "outputText"):  # Llama, Titan
            self.add_text(event.get(key))
        metrics = event.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self.done = True
            claude = self.usage  # Claude's own message usage, with its cache-lifetime and thinking details
            self.set_usage(invocation_metrics_usage, metrics)
            if claude is not None and self.usage is not None and self.usage is not claude:
                self.usage.details = claude.details
                self.usage.reasoning_tokens = min(claude.reasoning_tokens, self.usage.output_tokens)

    def set_model(self, model: Any) -> None:
        """Keep the path's model id (the billed one), not the short name inside Claude's events."""
