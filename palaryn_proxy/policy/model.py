"""Plain values of the policy engine: effects, the request context it judges and the result it returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from palaryn_proxy.classify import capability_for
from palaryn_proxy.policy.transforms import Transform
from palaryn_proxy.types import Capability, Decision, Kind, Reason


class Effect(enum.StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    TRANSFORM = "TRANSFORM"
    REQUIRE_APPROVAL = "REQUIRE_APPROVAL"

    @property
    def severity(self) -> int:
        """How restrictive the effect is; packs combine by taking the most severe."""
        return _SEVERITY[self]


_SEVERITY = {Effect.ALLOW: 0, Effect.TRANSFORM: 1, Effect.REQUIRE_APPROVAL: 2, Effect.DENY: 3}


@dataclass(frozen=True, slots=True)
class ApprovalSpec:
    """How a REQUIRE_APPROVAL decision is to be approved (Palaryn's `approval` block)."""

    scope: str = "admin"
    ttl_seconds: int = 3600
    reason: str = ""
    hold_seconds: float | None = None  # None: the caller's `approval_hold_seconds`


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything policy conditions look at for one request (or one model response, for model_tools)."""

    method: str
    host: str
    port: int = 443
    path: str = "/"
    scheme: str = "https"
    actor: str = "anonymous"
    workspace: str = "default"
    task: str | None = None
    capability: str = Capability.READ
    kind: str = Kind.HTTP
    tool: str = "http.request"
    mcp_server: str | None = None
    provider: str | None = None
    model: str | None = None
    model_tools: tuple[str, ...] = ()
    arguments: Any = None  # the tool call's arguments (MCP tools/call, or one model tool call)
    headers: tuple[tuple[str, str], ...] = ()  # no condition reads these two: the proxy leaves them empty
    json_body: Any = None

    @classmethod
    def from_url(cls, method: str, url: str, **fields: Any) -> PolicyContext:
        """Build a context from a URL (for `policy test`); capability follows the method unless given."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower() or "https"
        fields.setdefault("capability", capability_for(method))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        port = parts.port or (80 if scheme == "http" else 443)
        return cls(method.upper(), parts.hostname or "", port, path, scheme, **fields)


@dataclass(frozen=True, slots=True)
class ReportHit:
    """A report-mode rule (or pack) that would have decided `would_have` had it been enforced."""

    pack: str
    rule: str
    would_have: Effect
    message: str

    def to_reason(self) -> Reason:
        return Reason("policy", self.rule, f"report only, would have {self.would_have}: {self.message}")


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """The policy decision for one request, with the pack and rule that made it."""

    effect: Effect
    pack: str | None = None
    rule: str | None = None
    message: str = ""
    report_only: bool = False
    would_have: Effect | None = None
    transforms: tuple[Transform, ...] = ()
    approval: ApprovalSpec | None = None
    explanation: tuple[str, ...] = ()
    reports: tuple[ReportHit, ...] = ()

    @property
    def blocks(self) -> bool:
        """True when the request must not go upstream now (denied, or held for approval)."""
        return self.effect in (Effect.DENY, Effect.REQUIRE_APPROVAL)

    @property
    def decision(self) -> Decision:
        """The audit decision: deny, approval_required, or allow (TRANSFORM is an allow that rewrites)."""
        if self.effect is Effect.DENY:
            return Decision.DENY
        if self.effect is Effect.REQUIRE_APPROVAL:
            return Decision.APPROVAL_REQUIRED
        return Decision.ALLOW

    @property
    def reason(self) -> Reason:
        """The audit reason; `rule` is the rule name (or domain_blocklist / domain_allowlist / default_effect)."""
        return Reason("policy", self.rule or "no_policy", self.message)
