"""The `arguments` condition: each test op, pointers, all-must-hold, errors naming the key, approval hashes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, parse_pack
from palaryn_proxy.policy.arguments import arguments_hash, resolve_pointer


def engine(*tests: dict) -> PolicyEngine:
    rule = {"name": "r", "effect": "DENY", "conditions": {"tools": ["t"], "arguments": list(tests)}}
    return PolicyEngine([parse_pack({"name": "p", "default_effect": "ALLOW", "rules": [rule]}, "x.yaml")])


def effect(eng: PolicyEngine, arguments: object) -> Effect:
    ctx = PolicyContext("POST", "mcp.test", kind="mcp", tool="t", arguments=arguments)
    return eng.evaluate(ctx).effect


@pytest.mark.parametrize(
    ("test", "denied", "allowed"),
    [
        ({"pointer": "/q", "matches": r"(?i)\bdrop\s+table\b"}, {"q": "x; DROP TABLE t"}, {"q": "dropped"}),
        ({"pointer": "/path", "glob": "/etc/**"}, {"path": "/tmp/../etc/passwd"}, {"path": "/tmp/etc"}),
        ({"pointer": "/mode", "equals": "rw"}, {"mode": "rw"}, {"mode": "ro"}),
        ({"pointer": "/env", "in": ["prod", "live"]}, {"env": "prod"}, {"env": "dev"}),
        ({"pointer": "/amount", "gt": 100}, {"amount": "150"}, {"amount": 100}),
        ({"pointer": "/amount", "lt": 0}, {"amount": -1}, {"amount": True}),
        ({"pointer": "/force", "exists": True}, {"force": False}, {"other": 1}),
        ({"pointer": "/a~1b/0", "equals": 1}, {"a/b": [1]}, {"a/b": [2]}),
    ],
)
def test_each_op_denies_and_allows(test, denied, allowed):
    eng = engine(test)
    assert effect(eng, denied) is Effect.DENY
    assert effect(eng, allowed) is Effect.ALLOW


def test_all_tests_must_hold_and_plain_requests_never_match():
    eng = engine({"pointer": "/amount", "gt": 100}, {"pointer": "/currency", "equals": "EUR"})
    assert effect(eng, {"amount": 500, "currency": "EUR"}) is Effect.DENY
    assert effect(eng, {"amount": 500, "currency": "USD"}) is Effect.ALLOW
    assert effect(eng, None) is Effect.ALLOW
    result = eng.evaluate(PolicyContext("POST", "mcp.test", tool="t", arguments={"amount": 1}), explain=True)
    assert any("/amount gt 100.0 does not hold" in line for line in result.explanation)


@pytest.mark.parametrize(
    ("test", "message"),
    [
        ({"pointer": "q", "equals": 1}, "pointer"),
        ({"pointer": "/q"}, "exactly one of"),
        ({"pointer": "/q", "gt": "many"}, ".gt: expected a number"),
        ({"pointer": "/q", "matches": "("}, "invalid regular expression"),
        ({"pointer": "/q", "in": "prod"}, ".in: expected a list"),
    ],
)
def test_bad_tests_are_named(test, message):
    with pytest.raises(ConfigError, match=message) as err:
        engine(test)
    assert "arguments[0]" in str(err.value)


def test_model_tool_call_arguments_judge_each_call():
    eng = engine({"pointer": "/path", "glob": "/etc/**"})
    rule_ctx = PolicyContext("POST", "api.openai.com", kind="llm", model_tools=("t",))
    assert eng.evaluate_model_tools(rule_ctx).effect is Effect.ALLOW  # no model_tools rule here
    pack = {
        "name": "p",
        "default_effect": "ALLOW",
        "rules": [
            {"name": "r", "effect": "DENY",
             "conditions": {"model_tools": ["read_file"], "arguments": [{"pointer": "/path", "glob": "/etc/**"}]}},
        ],
    }  # fmt: skip
    eng = PolicyEngine([parse_pack(pack, "x.yaml")])
    ctx = PolicyContext("POST", "api.openai.com", kind="llm", model_tools=("read_file",))
    assert eng.evaluate_model_tools(replace(ctx, arguments={"path": "/etc/shadow"})).effect is Effect.DENY
    assert eng.evaluate_model_tools(replace(ctx, arguments={"path": "/srv/a"})).effect is Effect.ALLOW


def test_pointer_and_hash():
    assert resolve_pointer({"a": [{"b": 2}]}, "/a/0/b") == 2
    assert arguments_hash([("t", {"a": 1, "b": 2})]) == arguments_hash([("t", {"b": 2, "a": 1})])
    assert arguments_hash([("t", {"a": 1})]) != arguments_hash([("t", {"a": 2})])
