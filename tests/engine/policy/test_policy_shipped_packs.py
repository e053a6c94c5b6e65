"""The packs in policy-packs/ load and behave as issue 6 says; a Palaryn-format pack loads unchanged."""

from pathlib import Path

import pytest

from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, load_pack, load_packs
from palaryn_proxy.policy.loader import SHIPPED_PACKS_DIR

SHIPPED = ["default", "dev_fast", "prod_strict", "llm_only"]

# Palaryn's format exactly: no default_effect, kinds, mode or transform.
PALARYN_PACK = """
name: team_pack
version: "2.1.0"
description: "Team pack in Palaryn's format"
domain_allowlist:
  - "api.github.com"
  - "*.slack.com"
domain_blocklist:
  - "169.254.169.254"
rules:
  - name: "Read GitHub"
    description: "reads of the GitHub API pass"
    effect: ALLOW
    priority: 10
    conditions:
      tools: ["http.request"]
      capabilities: ["read"]
      methods: ["GET", "HEAD"]
      domains: ["api.github.com"]
  - name: "Slack posts need approval"
    description: "a person approves every post"
    effect: REQUIRE_APPROVAL
    priority: 20
    conditions:
      domains: ["*.slack.com"]
      capabilities: ["write"]
    approval:
      scope: "team_lead"
      ttl_seconds: 600
      reason: "Posting to Slack"
  - name: "Nothing else"
    description: "catch-all"
    effect: DENY
    priority: 100
    conditions: {}
"""


def ctx(method: str, url: str, **fields) -> PolicyContext:
    return PolicyContext.from_url(method, url, **fields)


def test_shipped_packs_exist_and_load_by_name_and_path():
    assert sorted(p.stem for p in SHIPPED_PACKS_DIR.glob("*.yaml")) == sorted(SHIPPED)
    engine = load_packs(SHIPPED)
    assert [p.name for p in engine.packs] == SHIPPED
    for name in SHIPPED:
        assert load_pack(SHIPPED_PACKS_DIR / f"{name}.yaml").name == name


@pytest.fixture(scope="module")
def default() -> PolicyEngine:
    return load_packs(["default"])


@pytest.mark.parametrize(
    ("method", "url", "kind", "effect"),
    [
        ("GET", "https://api.github.com/repos", "http", Effect.ALLOW),
        ("HEAD", "https://example.org/", "http", Effect.ALLOW),
        ("POST", "https://api.github.com/repos", "http", Effect.REQUIRE_APPROVAL),
        ("PUT", "https://example.org/x", "http", Effect.REQUIRE_APPROVAL),
        ("DELETE", "https://api.github.com/repos/x", "http", Effect.DENY),
        ("POST", "https://api.openai.com/v1/chat/completions", "llm", Effect.ALLOW),
        ("POST", "https://api.anthropic.com/v1/messages", "llm", Effect.ALLOW),
        ("GET", "http://169.254.169.254/latest/meta-data/", "http", Effect.DENY),
        ("GET", "http://metadata.google.internal/computeMetadata/v1/", "http", Effect.DENY),
        ("GET", "http://0xa9fea9fe/latest/", "http", Effect.DENY),
        ("GET", "http://[fd00:ec2::254]/latest/", "http", Effect.DENY),
    ],
)
def test_default_pack(default: PolicyEngine, method: str, url: str, kind: str, effect: Effect):
    assert default.evaluate(ctx(method, url, kind=kind)).effect is effect


def test_default_pack_write_approval_spec(default: PolicyEngine):
    result = default.evaluate(ctx("POST", "https://example.org/x"))
    assert result.approval is not None and result.approval.ttl_seconds == 3600


def test_default_pack_admin_is_denied(default: PolicyEngine):
    assert default.evaluate(ctx("GET", "https://example.org/", capability="admin")).effect is Effect.DENY


def test_default_pack_lets_mcp_handshake_through_and_holds_tool_calls(default: PolicyEngine):
    for method in ("initialize", "notifications/initialized", "tools/list"):
        listing = ctx("POST", "https://mcp.example.com/mcp", kind="mcp", tool=method, capability="write")
        assert default.evaluate(listing).rule == "MCP handshake and listings pass"
    call = ctx("POST", "https://mcp.example.com/mcp", kind="mcp", tool="fs.write", capability="write")
    assert default.evaluate(call).effect is Effect.REQUIRE_APPROVAL


@pytest.mark.parametrize(
    ("method", "url", "kind", "effect"),
    [
        ("POST", "https://api.openai.com/v1/chat/completions", "llm", Effect.ALLOW),
        ("POST", "http://127.0.0.1:11434/api/chat", "llm", Effect.ALLOW),
        ("GET", "https://api.github.com/repos", "http", Effect.DENY),
        ("POST", "https://mcp.example.com/mcp", "mcp", Effect.DENY),
        ("GET", "http://169.254.169.254/", "llm", Effect.DENY),
    ],
)
def test_llm_only_pack(method: str, url: str, kind: str, effect: Effect):
    result = load_packs(["llm_only"]).evaluate(ctx(method, url, kind=kind))
    assert result.effect is effect


def test_dev_fast_pack():
    engine = load_packs(["dev_fast"])
    assert engine.evaluate(ctx("POST", "https://example.org/x")).effect is Effect.ALLOW
    assert engine.evaluate(ctx("DELETE", "https://example.org/x")).effect is Effect.REQUIRE_APPROVAL
    assert engine.evaluate(ctx("GET", "http://169.254.169.254/")).effect is Effect.DENY


def test_prod_strict_pack():
    engine = load_packs(["prod_strict"])
    assert engine.evaluate(ctx("GET", "https://api.github.com/repos")).effect is Effect.ALLOW
    assert engine.evaluate(ctx("GET", "https://example.org/")).rule == "domain_allowlist"
    assert engine.evaluate(ctx("POST", "https://api.slack.com/chat")).effect is Effect.REQUIRE_APPROVAL
    assert engine.evaluate(ctx("DELETE", "https://api.github.com/x")).effect is Effect.DENY
    assert (
        engine.evaluate(ctx("POST", "https://api.anthropic.com/v1/messages", kind="llm")).effect
        is Effect.ALLOW
    )
    assert engine.evaluate(ctx("GET", "http://localhost/")).rule == "domain_blocklist"


def test_palaryn_format_pack_loads_unchanged(tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text(PALARYN_PACK)
    engine = load_packs([path])
    pack = engine.packs[0]
    assert (pack.name, pack.version, pack.description) == (
        "team_pack",
        "2.1.0",
        "Team pack in Palaryn's format",
    )
    assert engine.evaluate(ctx("GET", "https://api.github.com/user")).rule == "Read GitHub"
    slack = engine.evaluate(ctx("POST", "https://hooks.slack.com/x"))
    assert slack.effect is Effect.REQUIRE_APPROVAL and slack.approval is not None
    assert (slack.approval.scope, slack.approval.ttl_seconds, slack.approval.reason) == (
        "team_lead",
        600,
        "Posting to Slack",
    )
    assert engine.evaluate(ctx("GET", "https://hooks.slack.com/x")).rule == "Nothing else"
    assert engine.evaluate(ctx("GET", "https://example.org/")).rule == "domain_allowlist"
    assert engine.evaluate(ctx("GET", "http://169.254.169.254/")).rule == "domain_blocklist"
