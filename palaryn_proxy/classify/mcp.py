"""MCP over HTTP: recognise JSON-RPC 2.0 request bodies (single or batch) and name the tools they call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.types import Capability

TOOLS_CALL = "tools/call"
# Protocol housekeeping that reads state or changes nothing upstream; everything else counts as a write.
_READ_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    }
)
_CAPABILITY_ORDER = (Capability.READ, Capability.WRITE, Capability.DELETE, Capability.ADMIN)
# A JSON-RPC error code in the implementation-defined server range, used for calls the proxy refuses.
POLICY_ERROR_CODE = -32001


@dataclass(frozen=True, slots=True)
class McpCall:
    """One JSON-RPC request or notification. `problem` is set when a tools/call has no usable tool name."""

    method: str
    id: str | int | None
    params: Any = field(default=None, repr=False)
    tool: str | None = None
    arguments: Any = field(default=None, repr=False)
    problem: str | None = None

    @property
    def is_notification(self) -> bool:
        return self.id is None

    @property
    def policy_tool(self) -> str:
        """The `tool` a policy sees (as classify.mcp_tool): the tool name of a tools/call, else the method."""
        if self.method == TOOLS_CALL:
            return self.tool or TOOLS_CALL
        return self.method

    @property
    def capability(self) -> Capability:
        """Listing, reading and notifications are reads; a tool call may do anything, so it is a write."""
        if self.method in _READ_METHODS or self.method.startswith("notifications/"):
            return Capability.READ
        return Capability.WRITE


@dataclass(frozen=True, slots=True)
class McpRequest:
    """A JSON-RPC body: its requests/notifications (responses a client posts back are counted, not kept)."""

    calls: tuple[McpCall, ...]
    batch: bool
    responses: int = 0

    @property
    def tool_calls(self) -> tuple[McpCall, ...]:
        return tuple(c for c in self.calls if c.method == TOOLS_CALL)

    @property
    def tools(self) -> tuple[str, ...]:
        """Names of the tools called, in order (for the audit record)."""
        return tuple(c.tool for c in self.tool_calls if c.tool is not None)

    @property
    def capability(self) -> Capability:
        """The strongest capability any call in the body needs."""
        caps = [c.capability for c in self.calls] or [Capability.READ]
        return max(caps, key=_CAPABILITY_ORDER.index)


def _parse_call(obj: dict[str, Any]) -> McpCall:
    method = obj["method"]
    raw_id = obj.get("id")
    call_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    params = obj.get("params")
    if method != TOOLS_CALL:
        return McpCall(method, call_id, params)
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        return McpCall(method, call_id, params, problem="tools/call without a string params.name")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    return McpCall(method, call_id, params, name, arguments)


def _is_message(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("jsonrpc") == "2.0"


def parse_jsonrpc_obj(obj: Any) -> McpRequest | None:
    """Like parse_jsonrpc for a body already decoded from JSON (saves a second json.loads)."""
    batch = isinstance(obj, list)
    items: Sequence[Any] = obj if batch else [obj]
    if not items or not all(_is_message(m) for m in items):
        return None
    calls: list[McpCall] = []
    responses = 0
    for m in items:
        if isinstance(m.get("method"), str):
            calls.append(_parse_call(m))
        elif "result" in m or "error" in m:
            responses += 1
        else:
            return None
    return McpRequest(tuple(calls), batch, responses)


def parse_jsonrpc(body: bytes) -> McpRequest | None:
    """Parse a request body as JSON-RPC 2.0; None when it is not JSON-RPC (not JSON, wrong version, ...)."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        obj = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None
    return parse_jsonrpc_obj(obj)


def jsonrpc_error(request: McpRequest, message: str, code: int = POLICY_ERROR_CODE) -> bytes:
    """A JSON-RPC error answer to every request (not notification) in the body, batch-shaped if it was."""
    errors: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": c.id, "error": {"code": code, "message": message}}
        for c in request.calls
        if c.id is not None
    ]
    if not errors:
        errors = [{"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}]
    payload: Any = errors if request.batch else errors[0]
    return json.dumps(payload, separators=(",", ":")).encode()
