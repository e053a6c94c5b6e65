"""Each condition type, glob semantics and path normalisation."""

from typing import Any

import pytest

from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, parse_pack
from palaryn_proxy.policy.conditions import normalize_path


def engine_with(conditions: dict[str, Any]) -> PolicyEngine:
    """One DENY rule with the given conditions in a pack that allows everything else."""
    raw = {
        "name": "t",
        "default_effect": "ALLOW",
        "rules": [{"name": "hit", "effect": "DENY", "priority": 1, "conditions": conditions}],
    }
    return PolicyEngine([parse_pack(raw, "t.yaml")])


def hits(engine: PolicyEngine, **fields: Any) -> bool:
    fields.setdefault("method", "GET")
    fields.setdefault("host", "api.example.com")
    result = engine.evaluate(PolicyContext(**fields))
    return result.effect is Effect.DENY and result.rule == "hit"


CASES = [
    # (conditions, context fields that match, context fields that do not)
    ({"domains": ["api.example.com"]}, {"host": "API.Example.COM."}, {"host": "example.com"}),
    ({"domains": ["*.example.com"]}, {"host": "a.b.example.com"}, {"host": "example.com"}),
    ({"domains": ["*.example.com"]}, {"host": "x.example.com"}, {"host": "x.example.com.evil.io"}),
    ({"domains": ["127.0.0.1"]}, {"host": "0x7f.0.0.1"}, {"host": "127.0.0.2"}),
    ({"domains": ["::1"]}, {"host": "[::1]"}, {"host": "[::2]"}),
    ({"methods": ["DELETE", "PUT"]}, {"method": "delete"}, {"method": "GET"}),
    ({"paths": ["/admin/*"]}, {"path": "/admin/users?x=1"}, {"path": "/public/admin/x"}),
    ({"paths": ["/v1/*/delete"]}, {"path": "/v1/items/delete"}, {"path": "/v1/items/remove"}),
    ({"paths": ["/admin/*"]}, {"path": "/%61dmin/users"}, {"path": "/ADMIN/users"}),
    ({"paths": ["/admin/*"]}, {"path": "/public/../admin/x"}, {"path": "/public/admin/x"}),
    ({"capabilities": ["delete", "admin"]}, {"capability": "admin"}, {"capability": "read"}),
    ({"kinds": ["mcp"]}, {"kind": "mcp"}, {"kind": "http"}),
    ({"tools": ["fs.*", "shell_exec"]}, {"tool": "fs.write"}, {"tool": "http.request"}),
    ({"tools": ["shell_exec"]}, {"tool": "shell_exec"}, {"tool": "Shell_Exec"}),
    ({"mcp_servers": ["mcp.internal.example"]}, {"mcp_server": "MCP.internal.example"}, {"mcp_server": None}),
    ({"actors": ["dev-*"]}, {"actor": "dev-alice"}, {"actor": "prod-bot"}),
    ({"workspaces": ["team-a"]}, {"workspace": "team-a"}, {"workspace": "team-b"}),
    ({"providers": ["openai", "anthropic"]}, {"provider": "OpenAI"}, {"provider": None}),
    ({"models": ["gpt-4o*"]}, {"model": "gpt-4o-mini"}, {"model": "claude-3-5-sonnet"}),
]


@pytest.mark.parametrize(("conditions", "match", "miss"), CASES)
def test_condition_matches_and_misses(
    conditions: dict[str, Any], match: dict[str, Any], miss: dict[str, Any]
):
    engine = engine_with(conditions)
    assert hits(engine, **match)
    assert not hits(engine, **miss)


def test_all_listed_conditions_must_hold():
    engine = engine_with({"methods": ["POST"], "domains": ["api.example.com"], "actors": ["bot"]})
    assert hits(engine, method="POST", actor="bot")
    assert not hits(engine, method="POST", actor="alice")
    assert not hits(engine, method="GET", actor="bot")
    assert not hits(engine, method="POST", actor="bot", host="other.example.com")


@pytest.mark.parametrize("conditions", [{}, None, {"domains": []}, {"methods": [], "tools": None}])
def test_empty_conditions_match_everything(conditions: Any):
    engine = engine_with(conditions)
    assert hits(engine, method="PATCH", host="anything.example", tool="x", actor="y")


def test_single_string_is_accepted_as_a_one_item_list():
    assert hits(engine_with({"methods": "POST"}), method="POST")


def test_model_tools_rules_only_take_part_in_response_evaluation():
    engine = engine_with({"model_tools": ["shell_*"]})
    ctx = PolicyContext("POST", "api.openai.com", model_tools=("read_file", "shell_exec"))
    assert engine.evaluate(ctx).effect is Effect.ALLOW  # request phase ignores model_tools rules
    result = engine.evaluate_model_tools(ctx)
    assert result.effect is Effect.DENY and result.rule == "hit"
    assert "shell_exec" in result.message and "read_file" not in result.message
    ok = PolicyContext("POST", "api.openai.com", model_tools=("read_file",))
    assert engine.evaluate_model_tools(ok).effect is Effect.ALLOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("", "/"),
        ("/a/b/", "/a/b/"),
        ("/a//b", "/a/b"),
        ("/a/./b/../c", "/a/c"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/%2e%2e/b", "/b"),
        ("/%41%7e%2F", "/A~%2F"),  # only unreserved escapes are decoded; an encoded slash stays encoded
        ("/x?y=/admin#f", "/x"),
    ],
)
def test_normalize_path(raw: str, expected: str):
    assert normalize_path(raw) == expected
