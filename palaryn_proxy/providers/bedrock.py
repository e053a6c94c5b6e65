"""AWS Bedrock runtime Converse (`/model/{modelId}/converse`, JSON) and ConverseStream
(`/model/{modelId}/converse-stream`, binary application/vnd.amazon.eventstream); InvokeModel paths are
delegated to bedrock_invoke."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ..types import Usage
from .base import Adapter, LLMRequest, LLMResult, StreamParser, usage_or_problem
from .bedrock_invoke import InvokeStreamParser, invoke_request, invoke_result
from .details import put
from .eventstream import EventStreamDecoder
from .fields import as_dict, as_list, as_str, count, load_json, opt_int, text_of, usage_dict
from .openai import clean_path

_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream)$")
_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
)


def bedrock_usage(raw: Any) -> Usage:
    """Bedrock Converse: inputTokens EXCLUDES the prompt cache — cacheReadInputTokens and
    cacheWriteInputTokens are reported beside it (totalTokens is the sum of all four counts) — so
    input = inputTokens + cache reads + cache writes. outputTokens includes any reasoning tokens, which
    are not reported separately. cacheDetails splits the writes by TTL ("5m" / "1h")."""
    u = usage_dict(raw, "usage")
    read = count(u, "cacheReadInputTokens", "usage")
    write = count(u, "cacheWriteInputTokens", "usage")
    details: dict[str, int] = {}
    for entry in as_list(u.get("cacheDetails")):
        entry = as_dict(entry)
        ttl = as_str(entry.get("ttl"))
        if ttl in ("5m", "1h"):
            put(details, f"cache_write_{ttl}_tokens", count(entry, "inputTokens", "usage.cacheDetails"))
    return Usage(
        input_tokens=count(u, "inputTokens", "usage", required=True) + read + write,
        output_tokens=count(u, "outputTokens", "usage", required=True),
        cache_read_tokens=read,
        cache_write_tokens=write,
        details=details,
    )


def _block_output(block: dict[str, Any]) -> tuple[str, str | None]:
    """(generated text, called tool) of one content block or block delta."""
    tool = as_dict(block.get("toolUse"))
    reasoning = as_dict(block.get("reasoningContent"))
    text = as_str(block.get("text")) + as_str(reasoning.get("text"))
    text += as_str(as_dict(reasoning.get("reasoningText")).get("text"))
    tool_input = tool.get("input")
    if tool_input is not None:
        text += tool_input if isinstance(tool_input, str) else json.dumps(tool_input, ensure_ascii=False)
    return text, (as_str(tool.get("name")) or None)


class BedrockAdapter(Adapter):
    id = "bedrock"
    error_style = "bedrock"
    hosts = ("bedrock-runtime.*.amazonaws.com", "bedrock-runtime-fips.*.amazonaws.com")
    default_stream_shape = "eventstream"

    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        match = _PATH.match(clean_path(path))
        if method.upper() != "POST" or match is None:
            return None
        model = unquote(match.group(1))  # SDKs percent-encode the ":" of ids like ...-v1:0
        if match.group(2).startswith("invoke"):
            return invoke_request(self.id, model, match.group(2) != "invoke", body)
        stream = match.group(2) == "converse-stream"
        try:
            data = as_dict(load_json(body)) if body.strip() else {}
        except ValueError:
            data = {}
        tools = as_dict(data.get("toolConfig")).get("tools")
        return LLMRequest(
            provider=self.id,
            api="converse_stream" if stream else "converse",
            model=model,
            stream=stream,
            max_output_tokens=opt_int(as_dict(data.get("inferenceConfig")).get("maxTokens")),
            prompt_text=text_of(data.get("system"), data.get("messages"), tools),
            stream_shape="eventstream" if stream else None,
        )

    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        if req.api in ("invoke", "invoke_stream"):
            return invoke_result(req, data)
        obj = as_dict(data)
        usage, problem = usage_or_problem(bedrock_usage, obj.get("usage"))
        texts: list[str] = []
        tools: list[str] = []
        message = as_dict(as_dict(obj.get("output")).get("message"))
        for block in as_list(message.get("content")):
            text, tool = _block_output(as_dict(block))
            texts.append(text)
            if tool:
                tools.append(tool)
        # Converse responses do not name the model: it is the one in the path.
        return LLMResult(
            model=req.model, usage=usage, output_text="".join(texts), tool_calls=tools, problem=problem
        )

    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        if shape != "eventstream":
            return None
        return InvokeStreamParser(req) if req.api == "invoke_stream" else BedrockStreamParser(req)


class BedrockStreamParser(StreamParser):
    """Each message's `:event-type` names the event and its payload is the event object (plus a random
    `p` padding field); usage arrives in the last event, `metadata`. Exceptions are messages with
    `:message-type: exception`."""

    def __init__(self, req: LLMRequest) -> None:
        super().__init__(req, EventStreamDecoder(), "eventstream", "bedrock")

    def on_event(self, name: str | None, data: Any) -> None:
        event = as_dict(data)
        if name is None and len(event) == 1 and next(iter(event)) in _EVENTS:
            name, event = next(iter(event.items()))  # tolerate the SDK's wrapped form
            event = as_dict(event)
        if name == "contentBlockDelta":
            self.add_text(_block_output(as_dict(event.get("delta")))[0])
        elif name == "contentBlockStart":
            _, tool = _block_output(as_dict(event.get("start")))
            if tool:
                self.add_tool(tool)
        elif name == "metadata":
            self.done = True
            self.set_usage(bedrock_usage, event.get("usage"))
