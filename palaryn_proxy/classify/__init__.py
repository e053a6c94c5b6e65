"""Classify stage engine: a flow's kind (llm / mcp / http), capability and tool; mcp.py parses JSON-RPC bodies."""

from palaryn_proxy.classify.kinds import HTTP_TOOL, capability_for, classify, mcp_request
from palaryn_proxy.classify.mcp import McpCall, McpRequest, parse_jsonrpc

__all__ = ["HTTP_TOOL", "McpCall", "McpRequest", "capability_for", "classify", "mcp_request", "parse_jsonrpc"]
