"""The classify stage: LLM calls by provider host and path, MCP by a JSON-RPC body, everything else plain HTTP."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, chat_answer, chat_flow, flow, state

from palaryn_proxy.types import Capability, Kind


async def test_openai_chat_call_is_an_llm_call_of_provider_openai(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = chat_flow()
    await h.request_phase(f)
    st = state(f)
    assert (st.kind, st.provider, st.model, st.capability) == (
        Kind.LLM,
        "openai",
        "gpt-4o-mini",
        Capability.WRITE,
    )
    await h.response_phase(f, chat_answer())
    record = h.record(f)  # the model the provider says it served
    assert (record["kind"], record["provider"], record["model"]) == (
        "llm",
        "openai",
        "gpt-4o-mini-2024-07-18",
    )


async def test_llm_path_on_another_host_is_plain_http(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/v1/chat/completions", "POST", json_body={"model": "gpt-4o-mini"})
    await h.send(f)
    st = state(f)
    assert (st.kind, st.tool, st.provider) == (Kind.HTTP, "http.request", None)


async def test_json_rpc_tool_call_is_mcp_named_by_its_tool(harness: Callable[..., Harness]) -> None:
    h = harness()
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "read_file", "arguments": {}},
    }
    f = flow("https://mcp.example.com/mcp", "POST", json_body=call)
    await h.send(f)
    assert (state(f).kind, state(f).tool) == (Kind.MCP, "read_file")
    assert h.record(f)["tool"] == "read_file"
    listing = flow(
        "https://mcp.example.com/mcp", "POST", json_body={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    )
    await h.send(listing)
    assert (state(listing).kind, state(listing).tool) == (Kind.MCP, "tools/list")


async def test_json_rpc_text_in_a_non_json_body_is_not_mcp(harness: Callable[..., Harness]) -> None:
    h = harness()
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}}'
    f = flow("https://mcp.example.com/mcp", "POST", headers=[("content-type", "text/plain")], body=body)
    await h.send(f)
    assert state(f).kind is Kind.HTTP


async def test_capability_follows_the_method(harness: Callable[..., Harness]) -> None:
    h = harness()
    seen = {}
    for method in ("GET", "PUT", "DELETE"):
        f = flow("https://upstream.test/thing", method)
        await h.send(f)
        seen[method] = state(f).capability
    assert seen == {"GET": Capability.READ, "PUT": Capability.WRITE, "DELETE": Capability.DELETE}
