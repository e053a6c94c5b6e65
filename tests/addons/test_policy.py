"""The policy stage: packs deny (403), rewrite (transform), hold for a person (approval), judge each MCP call
and each tool the model asks for; report-mode rules only note what they would have done."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from flowkit import Harness, chat_answer, chat_flow, error_of, flow, state

from palaryn_proxy.types import Decision

PACK = """
name: test-pack
version: "1.0"
description: every effect
domain_blocklist: ["forbidden.test"]
default_effect: ALLOW
rules:
  - name: no-admin-deletes
    description: deletes under /admin are refused
    effect: DENY
    priority: 10
    conditions: {methods: [DELETE], paths: ["/admin/*"]}
  - name: cap-llm-tokens
    description: cheaper model and capped tokens for dev actors
    effect: TRANSFORM
    priority: 20
    conditions: {actors: [dev-*], providers: [openai]}
    transform:
      set_json: {/model: gpt-4o-mini}
      cap_json: {/max_tokens: 64}
      set_headers: {X-Policy: applied}
      remove_headers: [X-Debug]
  - name: deploys-need-a-person
    description: deploys wait for approval
    effect: REQUIRE_APPROVAL
    priority: 30
    conditions: {methods: [POST], paths: ["/deploy*"]}
    approval: {scope: admin, ttl_seconds: 120, reason: "deploys are reviewed", hold_seconds: 0.2}
  - name: no-shell-tool
    description: MCP shell execution is refused
    effect: DENY
    priority: 40
    conditions: {tools: [run_shell]}
  - name: model-may-not-fetch-weather
    description: tools the model may not call
    effect: DENY
    priority: 50
    conditions: {model_tools: [get_weather]}
  - name: audit-exports
    description: exports would be denied, in report mode first
    effect: DENY
    priority: 60
    mode: report
    conditions: {paths: ["/export*"]}
"""


def packed(harness: Callable[..., Harness], tmp_path: Path) -> Harness:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    return harness({"policy_packs": [str(pack)]})


async def test_deny_rule_answers_403_naming_the_rule(harness: Callable[..., Harness], tmp_path: Path) -> None:
    h = packed(harness, tmp_path)
    denied = flow("https://upstream.test/admin/users", "DELETE")
    allowed = flow("https://upstream.test/echo", "DELETE")
    blocked = flow("https://forbidden.test/echo")
    for f in (denied, allowed, blocked):
        await h.send(f)
    assert denied.response is not None and denied.response.status_code == 403
    assert denied.response.headers["x-palaryn-decision"] == "deny"
    assert "no-admin-deletes" in error_of(denied)["message"]
    assert allowed.response is not None and allowed.response.status_code == 200
    assert blocked.response is not None and blocked.response.status_code == 403
    assert "domain_blocklist" in error_of(blocked)["message"]
    assert [s.path for s in h.upstream_saw] == ["/echo"]
    assert h.record(denied)["reasons"][-1]["rule"] == "no-admin-deletes"


async def test_report_mode_rule_lets_the_flow_through_and_notes_it(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = packed(harness, tmp_path)
    f = flow("https://upstream.test/export/all")
    await h.send(f)
    assert f.response is not None and f.response.status_code == 200
    st = state(f)
    assert st.decision is Decision.ALLOW and "audit-exports" in [r.rule for r in st.reasons]


async def test_transform_rewrites_headers_and_json_before_upstream(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = packed(harness, tmp_path)
    f = chat_flow(actor="dev-7", model="gpt-4o", max_tokens=4000)
    f.request.headers["X-Debug"] = "1"
    await h.request_phase(f)
    assert state(f).model == "gpt-4o-mini"  # later stages (budgets) judge the rewritten call
    await h.response_phase(f, chat_answer())
    [sent] = h.upstream_saw
    body = json.loads(sent.content or b"")
    assert (body["model"], body["max_tokens"]) == ("gpt-4o-mini", 64)
    assert sent.headers["x-policy"] == "applied" and "x-debug" not in sent.headers
    other = chat_flow(actor="prod-1", model="gpt-4o", max_tokens=4000)  # the rule is for dev actors only
    await h.send(other, chat_answer())
    assert json.loads(h.upstream_saw[1].content or b"")["model"] == "gpt-4o"


async def test_one_denied_call_in_an_mcp_batch_denies_the_batch(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = packed(harness, tmp_path)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_shell", "arguments": {}}},
    ]
    f = flow("https://mcp.example.com/mcp", "POST", json_body=batch)
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    answers = json.loads(f.response.content or b"[]")  # JSON-RPC: a batch is answered with a batch
    assert [a["id"] for a in answers] == [1, 2] and h.upstream_saw == []
    assert all("no-shell-tool" in a["error"]["message"] for a in answers)
    single = flow("https://mcp.example.com/mcp", "POST", json_body=batch[0])
    await h.send(single)
    assert single.response is not None and single.response.status_code == 200


async def test_denied_model_tool_call_in_a_buffered_answer_is_replaced(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = packed(harness, tmp_path)
    f = chat_flow(actor="agent")
    await h.send(f, chat_answer(tool_calls=["get_weather"]))
    assert f.response is not None and f.response.status_code == 403
    assert "choices" not in json.loads(f.response.content or b"")  # the completion never reaches the agent
    assert error_of(f)["code"] == "tool_denied" and "get_weather" in error_of(f)["message"]
    assert state(f).decision is Decision.DENY and state(f).model_tools == ["get_weather"]
    fine = chat_flow(actor="agent")
    await h.send(fine, chat_answer(tool_calls=["get_time"]))
    assert fine.response is not None and fine.response.status_code == 200


async def test_approval_times_out_then_a_granted_retry_passes(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = packed(harness, tmp_path)
    f = flow("https://upstream.test/deploy", "POST", json_body={"release": "1.2"})
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    approval_id = f.response.headers["x-palaryn-approval-id"]
    assert f.response.headers["x-palaryn-decision"] == "approval_required" and h.upstream_saw == []
    assert approval_id in error_of(f)["message"]
    await h.runtime.stages["policy"].approvals.decide(approval_id, True, "ops")  # `approvals approve`
    retry = flow("https://upstream.test/deploy", "POST", json_body={"release": "1.2"})
    await h.send(retry)
    assert retry.response is not None and retry.response.status_code == 200
    other = flow("https://upstream.test/deploy", "POST", json_body={"release": "9.9"})  # another body
    await h.send(other)
    assert other.response is not None and other.response.status_code == 403
