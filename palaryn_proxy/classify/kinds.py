"""Classify a flow: kind (llm / mcp / http), capability (read / write / delete) and tool name."""

from __future__ import annotations

from palaryn_proxy.classify.mcp import McpRequest, parse_jsonrpc
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
_JSONRPC_MARKER_WINDOW = 4096


def capability_for(method: str) -> Capability:
    """GET/HEAD/OPTIONS read, POST/PUT/PATCH write, DELETE delete; anything else (CONNECT, TRACE) admin."""
    return _CAPABILITY_BY_METHOD.get(method.upper(), Capability.ADMIN)


def mcp_request(body: bytes | None, content_type: str) -> McpRequest | None:
    """The JSON-RPC 2.0 (MCP) calls in a request body, or None.

    Only JSON bodies that mention `jsonrpc` near the start are parsed, so ordinary JSON costs a prefix check.
    """
    if not body or "json" not in content_type.lower() or b"jsonrpc" not in body[:_JSONRPC_MARKER_WINDOW]:
        return None
    request = parse_jsonrpc(body)
    return request if request is not None and request.calls else None


def classify(is_llm: bool, body: bytes | None, content_type: str) -> tuple[Kind, str]:
    """(kind, tool) for a request whose LLM-ness the provider registry already decided."""
    if is_llm:
        return Kind.LLM, "llm"
    mcp = mcp_request(body, content_type)
    if mcp is not None:
        return Kind.MCP, mcp.calls[0].policy_tool
    return Kind.HTTP, HTTP_TOOL
