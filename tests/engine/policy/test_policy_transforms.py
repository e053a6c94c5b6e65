"""TRANSFORM actions on headers and JSON bodies."""

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, apply_transforms, parse_pack
from palaryn_proxy.policy.transforms import parse_pointer, parse_transforms


def transforms(raw: dict) -> tuple:
    return parse_transforms("transform", raw)


def test_cap_max_tokens_lowers_only_larger_values():
    caps = transforms({"cap_json": {"/max_tokens": 1024}})
    _, body = apply_transforms(caps, [], {"model": "m", "max_tokens": 8000})
    assert body["max_tokens"] == 1024
    _, body = apply_transforms(caps, [], {"model": "m", "max_tokens": 100})
    assert body["max_tokens"] == 100
    _, body = apply_transforms(caps, [], {"model": "m"})
    assert "max_tokens" not in body  # absent stays absent (some models refuse max_tokens)


def test_model_rewrite_and_field_removal():
    ops = transforms({"set_json": {"/model": "gpt-4o-mini"}, "remove_json": ["/metadata", "/missing"]})
    original = {"model": "gpt-4o", "metadata": {"user": "x"}, "messages": []}
    _, body = apply_transforms(ops, [], original)
    assert body == {"model": "gpt-4o-mini", "messages": []}
    assert original == {"model": "gpt-4o", "metadata": {"user": "x"}, "messages": []}  # input untouched


def test_header_set_replaces_case_insensitively_and_remove_drops_all():
    ops = transforms({"set_headers": {"X-Env": "dev", "X-Count": 3}, "remove_headers": ["x-debug"]})
    headers = [("x-env", "prod"), ("X-Debug", "1"), ("x-debug", "2"), ("Accept", "*/*")]
    out, body = apply_transforms(ops, headers, None)
    assert out == [("Accept", "*/*"), ("X-Env", "dev"), ("X-Count", "3")]
    assert body is None
    assert headers[0] == ("x-env", "prod")


def test_nested_pointers_arrays_and_escapes():
    ops = transforms(
        {
            "set_json": {"/a~1b/c~0d": 1, "/list/0": "first", "/list/-": "appended", "/nope/x": 1},
            "cap_json": {"/list/1": 5},
            "remove_json": ["/drop/1"],
        }
    )
    doc = {"a/b": {}, "list": ["zero", 50], "drop": [1, 2, 3]}
    _, body = apply_transforms(ops, [], doc)
    assert body == {"a/b": {"c~d": 1}, "list": ["first", 5, "appended"], "drop": [1, 3]}


def test_json_actions_skip_non_json_bodies():
    ops = transforms({"set_json": {"/model": "x"}, "set_headers": {"X-A": "1"}})
    headers, body = apply_transforms(ops, [], None)
    assert body is None and headers == [("X-A", "1")]


def test_set_json_values_are_copied_per_request():
    ops = transforms({"set_json": {"/stop": ["END"]}})
    _, first = apply_transforms(ops, [], {})
    first["stop"].append("mutated")
    _, second = apply_transforms(ops, [], {})
    assert second["stop"] == ["END"]


def test_header_values_stay_out_of_repr():
    (op,) = transforms({"set_headers": {"Authorization": "Bearer sk-secret"}})
    assert "sk-secret" not in repr(op) and "sk-secret" not in op.describe()


def test_pointer_parsing():
    assert parse_pointer("/a~1b/~0/0") == ("a/b", "~", "0")
    assert parse_pointer("/") == ("",)
    for bad in ("", "max_tokens", "/a~2"):
        with pytest.raises(ValueError):
            parse_pointer(bad)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (
            {"set_json": {"max_tokens": 1}},
            "transform.set_json: JSON pointer 'max_tokens' must start with '/'",
        ),
        ({"cap_json": {"/max_tokens": "many"}}, "transform.cap_json./max_tokens: cap_json needs a number"),
        ({"set_headers": {"Host": "evil"}}, "header 'Host' is managed by the proxy"),
        ({"set_headers": {"X-A": "a\r\nX-B: b"}}, "must not contain CR, LF or NUL"),
        ({"set_headers": {"bad name": "x"}}, "'bad name' is not a valid header name"),
        ({"remove_headers": "X-A"}, "transform.remove_headers: expected a list"),
        ({"rewrite_url": "x"}, "transform.rewrite_url: unknown transform"),
        ({}, "expected a non-empty mapping"),
    ],
)
def test_invalid_transforms_name_the_key(raw: dict, fragment: str):
    with pytest.raises(ConfigError) as exc:
        transforms(raw)
    assert fragment in str(exc.value)


def test_transform_rule_through_the_engine():
    raw = {
        "name": "cheap",
        "default_effect": "ALLOW",
        "rules": [
            {
                "name": "dev actors use a cheaper model",
                "effect": "TRANSFORM",
                "priority": 1,
                "conditions": {"actors": ["dev-*"], "kinds": ["llm"]},
                "transform": {"set_json": {"/model": "gpt-4o-mini"}, "cap_json": {"/max_tokens": 256}},
            }
        ],
    }
    engine = PolicyEngine([parse_pack(raw, "cheap.yaml")])
    body = {"model": "gpt-4o", "max_tokens": 4096}
    dev = PolicyContext("POST", "api.openai.com", actor="dev-bob", kind="llm", json_body=body)
    result = engine.evaluate(dev)
    assert result.effect is Effect.TRANSFORM
    _, new_body = apply_transforms(result.transforms, [], body)
    assert new_body == {"model": "gpt-4o-mini", "max_tokens": 256}
    prod = PolicyContext("POST", "api.openai.com", actor="prod-bot", kind="llm", json_body=body)
    assert engine.evaluate(prod).transforms == ()
