"""Ollama (any host on port 11434): native `/api/chat` and `/api/generate` (NDJSON streams, on by default)
and its OpenAI-compatible `/v1/...` paths."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..types import Usage
from .base import OPENAI_APIS, Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .fields import as_dict, as_list, as_str, count, load_json, opt_int, opt_str, text_of, usage_dict
from .ndjson import NDJSONDecoder
from .openai import OpenAIAdapter, clean_path

_NATIVE = {"/api/chat": "ollama.chat", "/api/generate": "ollama.generate"}


def ollama_usage(raw: Any) -> Usage:
    """Ollama's final object: prompt_eval_count = prompt tokens evaluated for this request — a prefix
    reused from the KV cache is not counted and not reported, so cache fields stay 0 and input may
    undercount; the field is omitted when the whole prompt came from the cache (then 0). eval_count =
    generated tokens, thinking included."""
    u = usage_dict(raw, "response")
    return Usage(
        input_tokens=count(u, "prompt_eval_count", "response"),
        output_tokens=count(u, "eval_count", "response", required=True),
    )


def _output(obj: dict[str, Any]) -> tuple[str, list[str]]:
    """(generated text, called tools) of one native response object or stream line."""
    message = as_dict(obj.get("message"))
    text = as_str(obj.get("response")) + as_str(obj.get("thinking"))
    text += as_str(message.get("content")) + as_str(message.get("thinking"))
    tools: list[str] = []
    for call in as_list(message.get("tool_calls")):
        function = as_dict(as_dict(call).get("function"))
        if name := opt_str(function.get("name")):
            tools.append(name)
        if function.get("arguments") is not None:
            text += json.dumps(function["arguments"], ensure_ascii=False)
    return text, tools


class OllamaAdapter(Adapter):
    id = "ollama"
    error_style = "ollama"
    hosts = ("*:11434",)
    default_stream_shape = "ndjson"

    def __init__(self) -> None:
        self._openai = OpenAIAdapter(self.id, ())

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        api = _NATIVE.get(clean_path(path))
        if api is None:
            return self._openai.parse_request(method, path, query, headers, body)
        if method.upper() != "POST":
            return None
        try:
            data = as_dict(load_json(body)) if body.strip() else {}
        except ValueError:
            data = {}
        stream = data.get("stream") is not False  # Ollama streams unless told not to
        predict = opt_int(as_dict(data.get("options")).get("num_predict"))
        if api == "ollama.chat":
            prompt = text_of(data.get("messages"), data.get("tools"))
        else:
            prompt = text_of(data.get("system"), data.get("prompt"), data.get("suffix"))
        return LLMRequest(
            provider=self.id,
            api=api,
            model=opt_str(data.get("model")),
            stream=stream,
            max_output_tokens=predict or None,
            prompt_text=prompt,
            stream_shape="ndjson" if stream else None,
        )

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        if req.api in OPENAI_APIS:
            return self._openai.parse_json(req, data)
        obj = as_dict(data)
        usage, problem = usage_or_problem(ollama_usage, obj)
        text, tools = _output(obj)
        model = opt_str(obj.get("model")) or req.model
        return LLMResult(model=model, usage=usage, output_text=text, tool_calls=tools, problem=problem)

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        if req.api in OPENAI_APIS:
            return self._openai.make_stream_parser(req, shape)
        return OllamaStreamParser(req) if shape == "ndjson" else None


class OllamaStreamParser(StreamParser):
    """One JSON object per line; the last has `done: true` and the counts. `{"error": ...}` lines report
    a failure."""

    def __init__(self, req: LLMRequest) -> None:
        super().__init__(req, NDJSONDecoder(), "ndjson", "ollama")

    def on_event(self, name: str | None, data: Any) -> None:
        obj = as_dict(data)
        if obj.get("error"):
            self.set_error("error")
            return
        self.set_model(obj.get("model"))
        text, tools = _output(obj)
        for tool in tools:
            self.add_tool(tool)
        self.add_text(text)
        if obj.get("done") is True:
            self.done = True
            self.set_usage(ollama_usage, obj)
