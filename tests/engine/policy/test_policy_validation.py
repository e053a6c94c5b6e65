"""Validation errors name the pack, the rule and the key; loading is all-or-nothing."""

from pathlib import Path

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, load_pack, load_packs, parse_pack

GOOD = """
name: good
rules:
  - name: reads
    effect: ALLOW
    conditions: {capabilities: [read]}
"""


def error_of(raw: object) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_pack(raw, "packs/x.yaml")
    return str(exc.value)


def with_rule(**rule: object) -> dict:
    return {"name": "team", "rules": [{"name": "first", "effect": "ALLOW"}, rule]}


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        (with_rule(name="r", effect="MAYBE"), ["'team'", "rule 'r' (rules[1]).effect", "'MAYBE'", "ALLOW"]),
        (with_rule(name="r"), ["rule 'r' (rules[1]).effect: missing"]),
        (with_rule(name="r", effect="DENY", conditons={}), ["rule 'r' (rules[1]).conditons: unknown key"]),
        (
            with_rule(name="r", effect="DENY", conditions={"capabilities": ["raed"]}),
            [
                "rule 'r' (rules[1]).conditions.capabilities[0]: 'raed' is not one of admin, delete, read, write"
            ],
        ),
        (
            with_rule(name="r", effect="DENY", conditions={"hosts": ["x"]}),
            ["rule 'r' (rules[1]).conditions.hosts: unknown condition"],
        ),
        (
            with_rule(name="r", effect="DENY", conditions={"methods": [1]}),
            ["rule 'r' (rules[1]).conditions.methods[0]: expected a non-empty string"],
        ),
        (with_rule(name="r", effect="DENY", priority="high"), ["rule 'r' (rules[1]).priority"]),
        (with_rule(name="r", effect="DENY", priority=True), ["rule 'r' (rules[1]).priority"]),
        (with_rule(name="r", effect="DENY", mode="shadow"), ["rule 'r' (rules[1]).mode: 'shadow'"]),
        (with_rule(effect="DENY"), ["'team'", "rules[1].name: every rule needs a non-empty name"]),
        (with_rule(name="r", effect="TRANSFORM"), ["rule 'r' (rules[1]).transform: a TRANSFORM rule needs"]),
        (
            with_rule(name="r", effect="DENY", transform={"set_headers": {"a": "b"}}),
            ["rule 'r' (rules[1]).transform"],
        ),
        (
            with_rule(name="r", effect="ALLOW", approval={"ttl_seconds": 5}),
            ["rule 'r' (rules[1]).approval: only a REQUIRE_APPROVAL rule"],
        ),
        (
            with_rule(name="r", effect="REQUIRE_APPROVAL", approval={"ttl": 5}),
            ["rule 'r' (rules[1]).approval.ttl: unknown key"],
        ),
        (
            with_rule(name="r", effect="REQUIRE_APPROVAL", approval={"ttl_seconds": -1}),
            ["rule 'r' (rules[1]).approval.ttl_seconds: expected a non-negative integer"],
        ),
        (
            with_rule(name="r", effect="TRANSFORM", transform={"set_json": {"/a~9": 1}}),
            ["rule 'r' (rules[1]).transform.set_json: JSON pointer '/a~9'"],
        ),
        (with_rule(name="first", effect="DENY"), ["rule 'first': rule names must be unique"]),
        ({"name": "team", "default_effect": "NOPE"}, ["'team'", ".default_effect: 'NOPE'"]),
        ({"name": "team", "default_effect": "TRANSFORM"}, [".default_effect: TRANSFORM needs a rule"]),
        ({"name": "team", "domain_allowlist": "a.com"}, [".domain_allowlist: expected a list"]),
        ({"name": "team", "domain_blocklist": [None]}, [".domain_blocklist[0]: expected a domain string"]),
        ({"name": "team", "rule": []}, ["'team' (packs/x.yaml).rule: unknown key"]),
        ({"name": "team", "rules": {"a": 1}}, [".rules: expected a list"]),
        ({"name": "team", "rules": ["DENY"]}, ["rules[0]: expected a mapping"]),
        ({"name": "team", "approval": {}}, [".approval: only used when default_effect is REQUIRE_APPROVAL"]),
        (["not", "a", "mapping"], ["packs/x.yaml: expected a mapping"]),
    ],
)
def test_errors_name_pack_rule_and_key(raw: object, fragments: list[str]):
    message = error_of(raw)
    for fragment in fragments:
        assert fragment in message, message


def test_every_broken_rule_is_reported_at_once():
    raw = {
        "name": "team",
        "rules": [
            {"name": "a", "effect": "NOPE"},
            {"name": "b", "effect": "ALLOW"},
            {"name": "c", "effect": "DENY", "conditions": {"kinds": ["ftp"]}},
        ],
    }
    message = error_of(raw)
    assert "rule 'a' (rules[0]).effect" in message and "rule 'c' (rules[2]).conditions.kinds[0]" in message
    assert "rule 'b'" not in message


def test_effects_are_case_insensitive_and_versions_may_be_numbers():
    pack = parse_pack({"name": "p", "version": 1.0, "rules": [{"name": "r", "effect": "deny"}]}, "p.yaml")
    assert pack.rules[0].effect is Effect.DENY and pack.version == "1.0"


def test_pack_without_name_is_named_after_its_file(tmp_path: Path):
    path = tmp_path / "unnamed_pack.yaml"
    path.write_text("rules: []\n")
    assert load_pack(path).name == "unnamed_pack"


def test_yaml_errors_and_duplicate_keys_name_the_file(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nrules: [\n")
    with pytest.raises(ConfigError, match="broken.yaml: invalid YAML"):
        load_pack(broken)
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: x\nrules:\n  - name: r\n    effect: ALLOW\n    effect: DENY\n")
    with pytest.raises(ConfigError, match="duplicate key 'effect'"):
        load_pack(dup)


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="neither a readable file nor a shipped pack name"):
        load_pack(tmp_path / "nope.yaml")


def test_load_packs_is_all_or_nothing(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - name: r\n    effect: ALOW\n")
    engine = load_packs([good])
    with pytest.raises(ConfigError) as exc:
        load_packs([good, bad])
    assert "policy pack 'bad'" in str(exc.value) and "rule 'r' (rules[0]).effect" in str(exc.value)
    # the caller keeps the engine it had
    assert engine.evaluate(PolicyContext("GET", "x.example")).rule == "reads"


def test_pack_names_must_be_unique_across_files(tmp_path: Path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(GOOD)
    b.write_text(GOOD)
    with pytest.raises(ConfigError, match="pack name 'good' is loaded twice"):
        load_packs([a, b])


def test_from_config(tmp_path: Path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    engine = PolicyEngine.from_config({"policy_packs": [str(path)]})
    assert [p.name for p in engine.packs] == ["good"] and engine.sources == (str(path),)
    assert PolicyEngine.from_config({}).packs == ()
    assert [p.name for p in PolicyEngine.from_config({"policy_packs": ["llm_only"]}).packs] == ["llm_only"]
    relative = PolicyEngine.from_config({"policy_packs": ["good.yaml"]}, base_dir=tmp_path)
    assert relative.sources == (str(path),)
    with pytest.raises(ConfigError, match="policy_packs: expected a list"):
        PolicyEngine.from_config({"policy_packs": {"a": 1}})
