"""Tool calls with arguments read from non-streamed model answers of each wire format."""

from __future__ import annotations

import json

from palaryn_proxy.toolguard.modelcalls import model_tool_calls


def test_openai_chat_anthropic_responses_and_gemini():
    chat = {"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": '{"x": 1}'}}]}}]}
    anthropic = {
        "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "name": "g", "input": {"y": 2}}]
    }
    responses = {"output": [{"type": "function_call", "name": "h", "arguments": "not json"}]}
    gemini = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "k", "args": {"z": 3}}}]}}]}
    assert model_tool_calls(json.dumps(chat).encode()) == [("f", {"x": 1})]
    assert model_tool_calls(json.dumps(anthropic).encode()) == [("g", {"y": 2})]
    assert model_tool_calls(json.dumps(responses).encode()) == [("h", "not json")]
    assert model_tool_calls(json.dumps(gemini).encode()) == [("k", {"z": 3})]
    assert model_tool_calls(b"data: {}") == []
    assert model_tool_calls(json.dumps({"choices": "odd"}).encode()) == []
