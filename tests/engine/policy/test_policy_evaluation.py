"""Evaluation order: lists, priority, default_effect, report mode, several packs, explanations."""

from typing import Any

from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, parse_pack


def pack(name: str = "p", **raw: Any) -> Any:
    return parse_pack({"name": name, **raw}, f"{name}.yaml")


def rule(name: str, effect: str, priority: int = 100, **extra: Any) -> dict[str, Any]:
    return {"name": name, "effect": effect, "priority": priority, **extra}


def ctx(method: str = "GET", host: str = "api.example.com", **fields: Any) -> PolicyContext:
    return PolicyContext(method, host, **fields)


def test_no_pack_allows_everything():
    result = PolicyEngine().evaluate(ctx("DELETE", "10.0.0.1"), explain=True)
    assert result.effect is Effect.ALLOW and result.pack is None
    assert "no policy pack" in result.explanation[0]


def test_lower_priority_number_wins_regardless_of_file_order():
    p = pack(rules=[rule("late", "ALLOW", 50), rule("early", "DENY", 10)])
    assert PolicyEngine([p]).evaluate(ctx()).rule == "early"


def test_equal_priorities_keep_file_order():
    p = pack(rules=[rule("first", "DENY", 10), rule("second", "ALLOW", 10)])
    assert PolicyEngine([p]).evaluate(ctx()).rule == "first"


def test_missing_priority_defaults_to_100():
    p = pack(rules=[{"name": "no-priority", "effect": "DENY"}, rule("at-99", "ALLOW", 99)])
    assert PolicyEngine([p]).evaluate(ctx()).rule == "at-99"


def test_blocklist_beats_allowlist_and_rules():
    p = pack(
        domain_blocklist=["evil.example.com"],
        domain_allowlist=["*.example.com"],
        rules=[rule("allow-all", "ALLOW", 1)],
    )
    engine = PolicyEngine([p])
    blocked = engine.evaluate(ctx(host="evil.example.com"))
    assert (blocked.effect, blocked.rule) == (Effect.DENY, "domain_blocklist")
    assert "evil.example.com" in blocked.message
    outside = engine.evaluate(ctx(host="example.org"))
    assert (outside.effect, outside.rule) == (Effect.DENY, "domain_allowlist")
    assert engine.evaluate(ctx(host="good.example.com")).rule == "allow-all"


def test_empty_allowlist_means_no_allowlist():
    p = pack(domain_allowlist=[], rules=[rule("allow-all", "ALLOW")])
    assert PolicyEngine([p]).evaluate(ctx(host="anywhere.test")).effect is Effect.ALLOW


def test_blocklist_matches_other_ip_notations():
    p = pack(domain_blocklist=["169.254.169.254"], default_effect="ALLOW")
    engine = PolicyEngine([p])
    for host in ("169.254.169.254", "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "169.254.43518"):
        assert engine.evaluate(ctx(host=host)).rule == "domain_blocklist", host


def test_default_effect_applies_when_no_rule_matches_and_defaults_to_deny():
    only_get = [rule("reads", "ALLOW", 1, conditions={"methods": ["GET"]})]
    strict = PolicyEngine([pack(rules=only_get)])
    result = strict.evaluate(ctx("POST"))
    assert (result.effect, result.rule) == (Effect.DENY, "default_effect")
    lenient = PolicyEngine([pack(default_effect="ALLOW", rules=only_get)])
    assert lenient.evaluate(ctx("POST")).effect is Effect.ALLOW
    held = PolicyEngine(
        [pack(default_effect="require_approval", approval={"ttl_seconds": 60}, rules=only_get)]
    )
    result = held.evaluate(ctx("POST"))
    assert result.effect is Effect.REQUIRE_APPROVAL and result.approval is not None
    assert result.approval.ttl_seconds == 60


def test_require_approval_carries_the_approval_spec():
    spec = {"scope": "security_lead", "ttl_seconds": 1800, "reason": "prod write", "hold_seconds": 5}
    p = pack(rules=[rule("writes", "REQUIRE_APPROVAL", 1, approval=spec)])
    result = PolicyEngine([p]).evaluate(ctx("POST"))
    assert result.effect is Effect.REQUIRE_APPROVAL and result.blocks
    assert result.decision == "approval_required"
    assert result.approval is not None
    assert (result.approval.scope, result.approval.ttl_seconds) == ("security_lead", 1800)
    assert (result.approval.reason, result.approval.hold_seconds) == ("prod write", 5.0)


def test_deny_result_names_the_rule_for_the_403_body_and_audit():
    p = pack(rules=[rule("no deletes", "DENY", 1, description="deletes are refused")])
    result = PolicyEngine([p]).evaluate(ctx("DELETE"))
    assert result.decision == "deny" and result.blocks
    assert "no deletes" in result.message and "deletes are refused" in result.message
    assert result.reason.stage == "policy" and result.reason.rule == "no deletes"


def test_report_mode_rule_allows_and_records_what_it_would_have_done():
    p = pack(
        default_effect="ALLOW",
        rules=[rule("new-deny", "DENY", 1, mode="report", conditions={"methods": ["DELETE"]})],
    )
    result = PolicyEngine([p]).evaluate(ctx("DELETE"))
    assert result.effect is Effect.ALLOW
    assert result.report_only and result.would_have is Effect.DENY
    assert [(h.rule, h.would_have) for h in result.reports] == [("new-deny", Effect.DENY)]
    assert "would have DENY" in result.reports[0].to_reason().message
    assert not PolicyEngine([p]).evaluate(ctx("GET")).reports


def test_report_mode_rule_does_not_weaken_the_rules_after_it():
    p = pack(rules=[rule("trial", "DENY", 1, mode="report"), rule("held", "REQUIRE_APPROVAL", 2)])
    result = PolicyEngine([p]).evaluate(ctx("POST"))
    assert result.effect is Effect.REQUIRE_APPROVAL and result.rule == "held"
    assert result.report_only and result.would_have is Effect.DENY


def test_report_mode_pack_never_enforces():
    p = pack(mode="report", domain_blocklist=["bad.example"], rules=[rule("deny-all", "DENY", 1)])
    engine = PolicyEngine([p])
    listed = engine.evaluate(ctx(host="bad.example"))
    assert listed.effect is Effect.ALLOW and listed.would_have is Effect.DENY
    assert listed.reports[0].rule == "domain_blocklist"
    ruled = engine.evaluate(ctx())
    assert ruled.effect is Effect.ALLOW and ruled.reports[0].rule == "deny-all"


def test_report_mode_transform_is_not_applied():
    transform = {"set_headers": {"X-Tier": "cheap"}}
    p = pack(rules=[rule("t", "TRANSFORM", 1, transform=transform, mode="report"), rule("ok", "ALLOW", 2)])
    result = PolicyEngine([p]).evaluate(ctx())
    assert result.effect is Effect.ALLOW and result.transforms == ()
    assert result.reports[0].would_have is Effect.TRANSFORM


def test_packs_combine_by_most_restrictive_effect():
    allow = pack("a", default_effect="ALLOW")
    approve = pack("b", rules=[rule("hold", "REQUIRE_APPROVAL", 1)])
    deny = pack(
        "c", rules=[rule("no", "DENY", 1, conditions={"methods": ["DELETE"]})], default_effect="ALLOW"
    )
    engine = PolicyEngine([allow, approve, deny])
    post = engine.evaluate(ctx("POST"))
    assert (post.effect, post.pack, post.rule) == (Effect.REQUIRE_APPROVAL, "b", "hold")
    delete = engine.evaluate(ctx("DELETE"))
    assert (delete.effect, delete.pack, delete.rule) == (Effect.DENY, "c", "no")
    assert delete.approval is None


def test_first_deny_wins_and_stops_evaluation():
    first = pack("first", rules=[rule("deny-1", "DENY", 1)])
    second = pack("second", rules=[rule("deny-2", "DENY", 1, mode="report")])
    result = PolicyEngine([first, second]).evaluate(ctx(), explain=True)
    assert (result.pack, result.rule) == ("first", "deny-1")
    assert not any("[second]" in line for line in result.explanation)


def test_transforms_of_all_transform_packs_accumulate_unless_denied():
    t1 = pack("t1", rules=[rule("h1", "TRANSFORM", 1, transform={"set_headers": {"X-A": "1"}})])
    t2 = pack("t2", rules=[rule("h2", "TRANSFORM", 1, transform={"set_headers": {"X-B": "2"}})])
    result = PolicyEngine([t1, t2]).evaluate(ctx())
    assert result.effect is Effect.TRANSFORM and result.decision == "allow" and not result.blocks
    assert [t.target for t in result.transforms] == ["X-A", "X-B"]
    deny = pack("d", rules=[rule("no", "DENY", 1)])
    assert PolicyEngine([t1, deny]).evaluate(ctx()).transforms == ()


def test_explanation_says_why_earlier_rules_did_not_match():
    p = pack(
        rules=[
            rule("metadata", "DENY", 1, conditions={"domains": ["169.254.169.254"]}),
            rule("deletes", "DENY", 5, conditions={"methods": ["DELETE"]}),
            rule("reads", "ALLOW", 10, conditions={"capabilities": ["read"]}),
        ]
    )
    result = PolicyEngine([p]).evaluate(ctx("GET"), explain=True)
    assert result.rule == "reads"
    text = "\n".join(result.explanation)
    assert "'metadata' (priority 1) did not match: domains: host 'api.example.com'" in text
    assert "'deletes' (priority 5) did not match: methods: method 'GET'" in text
    assert "'reads' (priority 10) matched: ALLOW" in text
    assert PolicyEngine([p]).evaluate(ctx("GET")).explanation == ()


def test_explanation_for_default_and_lists():
    p = pack(
        domain_allowlist=["*.example.com"],
        rules=[rule("posts", "ALLOW", 1, conditions={"methods": ["POST"]})],
    )
    result = PolicyEngine([p]).evaluate(ctx("GET"), explain=True)
    assert result.rule == "default_effect"
    assert any("passes domain_blocklist and domain_allowlist" in line for line in result.explanation)
    assert result.explanation[-1].startswith("[p] no rule matched: DENY")


def test_context_from_url():
    c = PolicyContext.from_url("delete", "http://[::1]:8080/a/b?x=1", actor="bot")
    assert (c.method, c.host, c.port, c.path, c.scheme) == ("DELETE", "::1", 8080, "/a/b?x=1", "http")
    assert (c.capability, c.actor) == ("delete", "bot")
    assert PolicyContext.from_url("GET", "https://h.example").port == 443
