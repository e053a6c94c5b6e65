"""Classify a flow: kind (llm / mcp / http), capability (read / write / delete) and tool name."""

from __future__ import annotations

import json

from palaryn_proxy.types import Capability, Kind

_CAPABILITY_BY_METHOD = {
    "GET": Capability.READ,
    "HEAD": Capability.READ,
    "OPTIONS": Capability.READ,
    "POST": Capability.WRITE,
    "PUT": Capability.WRITE,
    "PATCH": Capability.WRITE,
    "DELETE": Capability.DELETE,
}
HTTP_TOOL = "http.request"
_MCP_SNIFF_BYTES = 64


def capability_for(method: str) -> Capability:
    """GET/HEAD/OPTIONS read, POST/PUT/PATCH write, DELETE delete; anything else (CONNECT, TRACE) admin."""
    return _CAPABILITY_BY_METHOD.get(method.upper(), Capability.ADMIN)


def mcp_tool(body: bytes | None, content_type: str) -> str | None:
    """If the body is a JSON-RPC 2.0 call, its MCP tool name (tools/call) or method; else None.

    Only JSON bodies that declare `"jsonrpc"` near the start are parsed, so ordinary JSON costs a prefix check.
    """
    if not body or "json" not in content_type.lower():
        return None
    head = body[:_MCP_SNIFF_BYTES].lstrip()
    if not head.startswith((b"{", b"[")) or b"jsonrpc" not in body[:4096]:
        return None
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    if isinstance(msg, list) and msg and isinstance(msg[0], dict):
        msg = msg[0]
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str):
        return None
    if msg["method"] == "tools/call":
        params = msg.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        return str(name) if isinstance(name, str) and name else "tools/call"
    return msg["method"]


def classify(is_llm: bool, body: bytes | None, content_type: str) -> tuple[Kind, str]:
    """(kind, tool) for a request whose LLM-ness the provider registry already decided."""
    if is_llm:
        return Kind.LLM, "llm"
    tool = mcp_tool(body, content_type)
    if tool is not None:
        return Kind.MCP, tool
    return Kind.HTTP, HTTP_TOOL
