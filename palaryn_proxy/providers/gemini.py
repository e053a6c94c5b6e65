"""Google Gemini: generativelanguage.googleapis.com and Vertex AI `.../models/{model}:generateContent` and
`:streamGenerateContent` (SSE with alt=sse, else a streamed JSON array); also the OpenAI-compatible paths
and, on Vertex, Claude's Anthropic-format `:rawPredict` / `:streamRawPredict`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ..types import Usage
from . import errorbody
from .anthropic import AnthropicStreamParser, messages_request, messages_result
from .base import OPENAI_APIS, Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .details import gemini_details, gemini_grounding
from .embeddings import GEMINI_EMBED_APIS, embed_request, gemini_embed_result
from .fields import as_dict, as_list, as_str, count, load_json, opt_int, opt_str, text_of, usage_dict
from .jsonarray import JSONArrayDecoder
from .openai import OpenAIAdapter, clean_path
from .sse import SSEDecoder

_METHOD = re.compile(r"/(?:models|tunedModels|endpoints)/([^/:]+):(generateContent|streamGenerateContent)$")
# Embeddings: Gemini embedContent / batchEmbedContents; Vertex :predict on a text-embedding model.
_EMBED = re.compile(r"/models/([^/:]+):(embedContent|batchEmbedContents|predict)$")
# Claude on Vertex AI: Anthropic Messages bodies (model in the path) at :rawPredict / :streamRawPredict.
_CLAUDE = re.compile(r"/publishers/anthropic/models/([^/:]+):(rawPredict|streamRawPredict)$")


def gemini_usage(raw: Any) -> Usage:
    """Gemini usageMetadata: promptTokenCount counts the whole prompt, cached content included
    (cachedContentTokenCount is part of it); toolUsePromptTokenCount (tool results such as search
    grounding fed to the model) is OUTSIDE it and billed as input, so input = prompt + toolUse.
    candidatesTokenCount EXCLUDES thinking — thoughtsTokenCount is reported beside it — so
    output = candidates + thoughts and reasoning = thoughts. Per-modality parts go to details."""
    u = usage_dict(raw, "usageMetadata")
    thoughts = count(u, "thoughtsTokenCount", "usageMetadata")
    return Usage(
        input_tokens=count(u, "promptTokenCount", "usageMetadata")
        + count(u, "toolUsePromptTokenCount", "usageMetadata"),
        output_tokens=count(u, "candidatesTokenCount", "usageMetadata") + thoughts,
        cache_read_tokens=count(u, "cachedContentTokenCount", "usageMetadata"),
        reasoning_tokens=thoughts,
        details=gemini_details(u),
    )


def _parts(obj: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for candidate in as_list(obj.get("candidates")):
        content = as_dict(as_dict(candidate).get("content"))
        parts += [p for p in as_list(content.get("parts")) if isinstance(p, dict)]
    return parts


def _finished(obj: dict[str, Any]) -> bool:
    """A candidate finished, or the prompt was blocked (then no candidate comes)."""
    if as_dict(obj.get("promptFeedback")).get("blockReason"):
        return True
    return any(as_dict(c).get("finishReason") for c in as_list(obj.get("candidates")))


def _part_output(part: dict[str, Any]) -> tuple[str, str | None]:
    """(generated text, called tool name) of one part; thought summaries count as text."""
    call = as_dict(part.get("functionCall"))
    if call:
        return json.dumps(call.get("args"), ensure_ascii=False), opt_str(call.get("name"))
    code = as_str(as_dict(part.get("executableCode")).get("code"))
    return as_str(part.get("text")) + code, None


class GeminiAdapter(Adapter):
    """Gemini API; the same class serves Vertex AI under the id `vertex`."""

    id = "gemini"
    error_style = "gemini"
    hosts: tuple[str, ...] = ("generativelanguage.googleapis.com",)

    def __init__(self, id: str | None = None, hosts: tuple[str, ...] | None = None) -> None:
        if id is not None:
            self.id = id
        if hosts is not None:
            self.hosts = hosts
        self._openai = OpenAIAdapter(self.id, ())  # /v1beta/openai/..., Vertex .../endpoints/openapi/...

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        if method.upper() != "POST":
            return None
        path = unquote(clean_path(path))
        claude = _CLAUDE.search(path)
        if claude is not None:
            return messages_request(self.id, body, claude.group(1))
        embed = _EMBED.search(path)
        if embed is not None and (embed.group(2) != "predict" or "embedding" in embed.group(1)):
            return embed_request(self.id, embed.group(2), embed.group(1), body)
        match = _METHOD.search(path)
        if match is None:
            return self._openai.parse_request(method, path, query, headers, body)
        stream = match.group(2) == "streamGenerateContent"
        try:
            data = as_dict(load_json(body)) if body.strip() else {}
        except ValueError:
            data = {}
        config = as_dict(data.get("generationConfig") or data.get("generation_config"))
        system = data.get("systemInstruction") or data.get("system_instruction")
        return LLMRequest(
            provider=self.id,
            api=match.group(2),
            model=match.group(1),
            stream=stream,
            max_output_tokens=opt_int(config.get("maxOutputTokens", config.get("max_output_tokens"))),
            prompt_text=text_of(system, data.get("contents"), data.get("tools")),
            stream_shape=("sse" if query.get("alt") == "sse" else "json_array") if stream else None,
        )

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        if req.api in OPENAI_APIS:
            return self._openai.parse_json(req, data)
        if req.api == "messages":
            return messages_result(req, data)
        if req.api in GEMINI_EMBED_APIS:
            return gemini_embed_result(req, data)
        objs = [as_dict(o) for o in (data if isinstance(data, list) else [data])]
        texts: list[str] = []
        tools: list[str] = []
        for obj in objs:
            for part in _parts(obj):
                text, tool = _part_output(part)
                texts.append(text)
                if tool:
                    tools.append(tool)
        last: dict[str, Any] = next((o for o in reversed(objs) if "usageMetadata" in o), {})
        usage, problem = usage_or_problem(gemini_usage, last.get("usageMetadata"))
        if usage is not None:
            for obj in objs:
                usage.details.update(gemini_grounding(obj.get("candidates")))
        model = next((opt_str(o.get("modelVersion")) for o in reversed(objs) if o.get("modelVersion")), None)
        return LLMResult(
            model=model or req.model,
            usage=usage,
            output_text="".join(texts),
            tool_calls=tools,
            problem=problem,
        )

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        if req.api in OPENAI_APIS:
            return self._openai.make_stream_parser(req, shape)
        if req.api == "messages":
            return AnthropicStreamParser(req) if shape == "sse" else None
        if shape not in ("sse", "json_array"):
            return None
        return GeminiStreamParser(req, shape)


class GeminiStreamParser(StreamParser):
    """Every chunk is a GenerateContentResponse; usageMetadata is cumulative and the last one wins; the
    stream is complete once a candidate has a finishReason (for the JSON-array form, also at `]`)."""

    def __init__(self, req: LLMRequest, shape: str) -> None:
        self._array = JSONArrayDecoder() if shape == "json_array" else None
        super().__init__(req, self._array or SSEDecoder(), shape, "gemini")
        self._grounding: dict[str, int] = {}

    def on_event(self, name: str | None, data: Any) -> None:
        obj = as_dict(data)
        if obj.get("error"):
            error = as_dict(obj["error"])
            self.set_error(error.get("status") or error.get("code") or "error")
            return
        self.set_model(obj.get("modelVersion"))
        for part in _parts(obj):
            text, tool = _part_output(part)
            if tool:
                self.add_tool(tool)
            self.add_text(text)
        self._grounding.update(gemini_grounding(obj.get("candidates")))
        meta = obj.get("usageMetadata")
        if meta is not None:  # early chunks may carry only the prompt count
            self.set_usage(gemini_usage, meta, running="candidatesTokenCount" in as_dict(meta))
        if self.usage is not None:
            self.usage.details.update(self._grounding)
        if _finished(obj):
            self.done = True

    def error_event(self, message: str, code: str, status: int = 429) -> bytes:
        if self._array is None:
            payload = json.dumps(errorbody.error_payload("gemini", message, code, status))
            return b"data: " + payload.encode() + b"\r\n\r\n"
        element = json.dumps(errorbody.error_payload("gemini", message, code, status)).encode()
        if self._array.closed:
            return b""
        if not self._array.opened:
            return b"[" + element + b"]"
        return (b",\r\n" if self._array.comma_pending else b"") + element + b"\n]"
