"""JSON-RPC 2.0 / MCP request parsing and refusal bodies."""

import json

import pytest

from palaryn_proxy.classify.mcp import POLICY_ERROR_CODE, jsonrpc_error, parse_jsonrpc, parse_jsonrpc_obj
from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, parse_pack
from palaryn_proxy.types import Capability


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "fs.write", "arguments": {"path": "/tmp/x", "content": "hi"}},
}


def test_single_tools_call():
    req = parse_jsonrpc(body(CALL))
    assert req is not None and not req.batch and req.responses == 0
    (call,) = req.calls
    assert (call.method, call.id, call.tool, call.problem) == ("tools/call", 7, "fs.write", None)
    assert call.arguments == {"path": "/tmp/x", "content": "hi"}
    assert call.policy_tool == "fs.write" and call.capability is Capability.WRITE
    assert req.tools == ("fs.write",) and req.capability is Capability.WRITE


def test_batch_with_notification_and_response():
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "search", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 3, "result": {"ok": True}},
    ]
    req = parse_jsonrpc(b"  \n" + body(batch))
    assert req is not None and req.batch and req.responses == 1
    assert [c.policy_tool for c in req.calls] == ["tools/list", "notifications/initialized", "search"]
    assert [c.is_notification for c in req.calls] == [False, True, False]
    assert req.tools == ("search",)
    assert [c.tool for c in req.tool_calls] == ["search"]


def test_handshake_is_read_only():
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}
    req = parse_jsonrpc(body(init))
    assert req is not None and req.capability is Capability.READ and req.tools == ()


@pytest.mark.parametrize(
    "params",
    [None, {}, {"name": ""}, {"name": 5}, ["fs.write"]],
)
def test_tools_call_without_a_usable_name_is_flagged(params: object):
    msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    req = parse_jsonrpc(body(msg))
    assert req is not None
    (call,) = req.calls
    assert call.tool is None and call.problem is not None and call.policy_tool == "tools/call"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"jsonrpc": "2.0", "method": ',
        b"\xff\xfe{}",
        b'"jsonrpc"',
        body({"jsonrpc": "1.0", "method": "x", "id": 1}),
        body({"method": "tools/call", "id": 1}),
        body([]),
        body([CALL, {"not": "rpc"}]),
        body({"jsonrpc": "2.0", "id": 1}),
        body({"model": "gpt-4o", "messages": []}),
    ],
)
def test_non_jsonrpc_bodies(raw: bytes):
    assert parse_jsonrpc(raw) is None


def test_escaped_keys_are_still_recognised():
    # A client cannot hide a call from policy by escaping the JSON keys.
    raw = b'{"\\u006asonrpc": "2.0", "id": 1, "method": "tools/\\u0063all", "params": {"name": "shell"}}'
    req = parse_jsonrpc(raw)
    assert req is not None and req.tools == ("shell",)


def test_parse_decoded_object():
    req = parse_jsonrpc_obj(CALL)
    assert req is not None and req.tools == ("fs.write",)
    assert parse_jsonrpc_obj({"model": "x"}) is None


def test_error_bodies_single_and_batch():
    single = json.loads(jsonrpc_error(parse_jsonrpc(body(CALL)), "denied by rule 'no-fs'"))
    assert single == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": POLICY_ERROR_CODE, "message": "denied by rule 'no-fs'"},
    }
    batch = [CALL, {"jsonrpc": "2.0", "method": "notifications/x"}, {**CALL, "id": "z"}]
    errors = json.loads(jsonrpc_error(parse_jsonrpc(body(batch)), "no"))
    assert [e["id"] for e in errors] == [7, "z"]
    note = json.loads(jsonrpc_error(parse_jsonrpc(body({"jsonrpc": "2.0", "method": "n"})), "no"))
    assert note["id"] is None


def test_tool_policy_per_call_in_a_batch():
    raw = {
        "name": "mcp",
        "default_effect": "ALLOW",
        "rules": [
            {"name": "no shell", "effect": "DENY", "priority": 1, "conditions": {"tools": ["shell*"]}},
            {
                "name": "only trusted servers",
                "effect": "DENY",
                "priority": 2,
                "conditions": {"kinds": ["mcp"], "mcp_servers": ["*.untrusted.example"]},
            },
        ],
    }
    engine = PolicyEngine([parse_pack(raw, "mcp.yaml")])
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "shell_exec"}},
    ]
    req = parse_jsonrpc(body(batch))
    assert req is not None

    def judge(tool: str, server: str) -> Effect:
        ctx = PolicyContext("POST", server, kind="mcp", tool=tool, mcp_server=server, capability="write")
        return engine.evaluate(ctx).effect

    effects = [judge(c.policy_tool, "mcp.example.com") for c in req.calls]
    assert effects == [Effect.ALLOW, Effect.DENY]  # the batch is denied because one call is
    assert judge("search", "tools.untrusted.example") is Effect.DENY
