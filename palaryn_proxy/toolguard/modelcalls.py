"""The tool calls (name and arguments) a non-streamed model answer asks for, in the major wire formats."""

from __future__ import annotations

import json
from typing import Any

MAX_CALLS = 64


def _args(raw: Any) -> Any:
    """OpenAI sends arguments as a JSON string; a string that is not JSON is kept as the string."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _openai_chat(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    calls = []
    for choice in doc.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        for tc in (message or {}).get("tool_calls") or []:
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                calls.append((fn["name"], _args(fn.get("arguments"))))
    return calls


def _content_blocks(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """Anthropic `content[type=tool_use]` and OpenAI Responses `output[type=function_call]`."""
    calls = []
    for block in (doc.get("content") or []) + (doc.get("output") or []):
        if not isinstance(block, dict) or not isinstance(block.get("name"), str):
            continue
        if block.get("type") == "tool_use":
            calls.append((block["name"], block.get("input")))
        elif block.get("type") == "function_call":
            calls.append((block["name"], _args(block.get("arguments"))))
    return calls


def _gemini(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    calls = []
    for cand in doc.get("candidates") or []:
        content = cand.get("content") if isinstance(cand, dict) else None
        for part in (content or {}).get("parts") or []:
            fc = part.get("functionCall") if isinstance(part, dict) else None
            if isinstance(fc, dict) and isinstance(fc.get("name"), str):
                calls.append((fc["name"], fc.get("args")))
    return calls


def model_tool_calls(body: bytes) -> list[tuple[str, Any]]:
    """Every (tool name, arguments) pair the answer asks for; [] when it is not a JSON answer."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    calls: list[tuple[str, Any]] = []
    for extract in (_openai_chat, _content_blocks, _gemini):
        try:
            calls.extend(extract(doc))
        except (AttributeError, TypeError):  # a field of an unexpected shape: that format does not apply
            continue
    return calls[:MAX_CALLS]
