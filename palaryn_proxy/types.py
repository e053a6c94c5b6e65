"""Plain data shared by every pipeline stage: identity, usage, reasons, decisions and per-flow state."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from palaryn_proxy.budget import BudgetReservation
    from palaryn_proxy.credentials.plan import Plan as CredentialPlan
    from palaryn_proxy.dlp import StreamScanner
    from palaryn_proxy.policy.model import PolicyContext
    from palaryn_proxy.providers.base import Adapter, LLMRequest
    from palaryn_proxy.ratelimit import RateLimitTicket
    from palaryn_proxy.usage.stream import Guard, StreamTap


class Decision(enum.StrEnum):
    """The audit record's `decision`; ordered loosely from harmless to fatal."""

    ALLOW = "allow"
    REDACT = "redact"
    DENY = "deny"
    APPROVAL_REQUIRED = "approval_required"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXCEEDED = "budget_exceeded"
    ERROR = "error"


class Kind(enum.StrEnum):
    LLM = "llm"
    MCP = "mcp"
    HTTP = "http"
    PASSTHROUGH = "passthrough"


class Capability(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    actor: str
    workspace: str
    task: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    source: str = "default"  # proxy_auth | header | client_map | default


@dataclass(frozen=True, slots=True)
class Reason:
    stage: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "rule": self.rule, "message": self.message}


# Service tiers billed at the standard price: not repeated on every audit record.
STANDARD_TIERS = frozenset({"default", "standard", "auto", "on_demand"})


@dataclass(slots=True)
class Usage:
    """Normalised token usage (the OpenAI / genai-prices convention).

    input_tokens counts all input tokens, cached ones included; cache_read_tokens and cache_write_tokens
    are the parts of it read from / written to the prompt cache. output_tokens counts all output tokens,
    reasoning included; reasoning_tokens is the part of it spent on reasoning.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    # Further billed dimensions under genai-prices' usage key names (cache_write_1h_tokens,
    # input_audio_tokens, web_searches, ...): parts of the counts above or extra units; only keys present.
    details: dict[str, int] = field(default_factory=dict)
    service_tier: str | None = None  # the tier the call was billed at (OpenAI flex / priority ...)
    provider_cost_usd: Decimal | None = None  # the cost the provider itself reported (OpenRouter)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "estimated": self.estimated,
        }
        details: dict[str, Any] = dict(self.details)
        if self.service_tier and self.service_tier not in STANDARD_TIERS:
            details["service_tier"] = self.service_tier
        if self.provider_cost_usd is not None:
            details["provider_cost_usd"] = str(self.provider_cost_usd)
        if details:
            out["details"] = details
        return out

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Verdict:
    """What one stage decided about a flow. `status` is the HTTP status of the refusal, if any."""

    decision: Decision
    reason: Reason | None = None
    status: int | None = None
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return self.decision not in (Decision.ALLOW, Decision.REDACT)


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A message body with its Content-Encoding undone (palaryn_proxy.dlp.compression.decode_body)."""

    raw: bytes = field(repr=False)  # the body as sent, which `data` was decoded from
    encoding: str  # the Content-Encoding it was decoded by
    data: bytes = field(repr=False)  # decoded; a prefix when `oversize`; the raw bytes when `undecodable`
    oversize: bool = False  # decoding stopped at the cap (max_decoded_bytes): the body decodes to more
    undecodable: bool = False  # nothing decoded: bad data or an unknown encoding
    problem: str | None = None  # why decoding was lenient (damage, bytes ignored) or failed


@dataclass(slots=True)
class LlmCall:
    """An LLM call as the stages see it: its provider adapter, and the request once parsed."""

    adapter: Adapter
    error_style: str | None
    request: LLMRequest | None = None  # re-parsed after a policy TRANSFORM or a DLP redaction
    api: str | None = None
    usage_settled: bool = False  # usage: accounted exactly once (response or error)
    tool_denied: bool = False  # policy: a model tool call in the answer was denied


@dataclass(slots=True)
class StreamPlan:
    """How a response stream is handled: the tap (usage builds it) decodes each chunk once for its parser
    and the DLP scanner (the DLP stage registers it), guards (policy, budget) may end the stream early."""

    tap: StreamTap | None = None
    scanner: StreamScanner | None = None  # read by the tap on every chunk
    guards: list[Guard] = field(default_factory=list)
    budget_cut: tuple[str, str] | None = None  # budget: (rule, message) when a guard ended the stream


@dataclass(slots=True)
class Admission:
    """Rate limit and budget admission of one call (palaryn_proxy/budget/admission.py): the rate ticket and
    the budget reservation, corrected and settled when the call ends."""

    rate_due: int | None = None  # ratelimit: estimated tokens of a check left to the budget stage's admit()
    rate_ticket: RateLimitTicket | None = None
    reservation: BudgetReservation | None = None


@dataclass(slots=True)
class FlowState:
    """Everything the pipeline learns about one flow; stages write here, the audit stage reads it."""

    request_id: str
    started: float  # time.monotonic() at request headers
    ts: str  # UTC ISO-8601 at request headers
    identity: Identity
    client: str
    method: str
    url: str
    host: str
    kind: Kind = Kind.HTTP
    capability: Capability = Capability.READ
    tool: str | None = None
    decision: Decision = Decision.ALLOW
    reasons: list[Reason] = field(default_factory=list)
    status: int | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    provider: str | None = None
    model: str | None = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    dlp: list[dict[str, str]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    model_tools: list[str] = field(default_factory=list)  # tools an LLM response asked to call
    credentials: list[str] = field(default_factory=list)  # names of the credentials injected (never values)
    blocked_by: str | None = None  # stage name when the proxy answered instead of upstream
    request_body: DecodedBody | None = None  # decoded once for every stage (addons/_flow.body)
    response_body: DecodedBody | None = None
    # What stages hand each other (never audited as such): set by the stage named, read by later ones.
    answered_by_proxy: bool = False  # any refusing stage: the proxy answered, nothing went upstream
    llm: LlmCall | None = None  # classify (adapter) and usage (the parsed request)
    stream: StreamPlan | None = None  # usage (tap), dlp (scanner), policy and budget (guards)
    admission: Admission | None = None  # ratelimit (check, ticket) and budget (reservation)
    policy: PolicyContext | None = None  # policy: the request's context, for judging model tool calls
    credential_plan: CredentialPlan | None = None  # credentials: placeholders in slots (dlp skips them)
    upstream_watchdog: asyncio.TimerHandle | None = None  # upstream: the first-byte deadline
    upstream_timeout: float | None = None  # upstream: set when that deadline passed
    headers_at: float | None = None  # anomaly: seconds from request to response headers
    anomaly_flags: list[str] | None = None  # anomaly: types named in X-Palaryn-Anomaly
    audited: bool = False  # audit: the record is written (exactly once)

    @property
    def error_style(self) -> str | None:
        """The provider error format answers to this flow use (None: the generic JSON error)."""
        return self.llm.error_style if self.llm is not None else None

    def release(self) -> None:
        """The flow is over and recorded: drop what stages kept for it (parsed bodies, stream guards, which
        are closures over this state). mitmproxy keeps a finished flow in a reference cycle until the
        collector runs; emptied, it holds none of that meanwhile."""
        self.llm = self.stream = self.admission = self.policy = self.credential_plan = None
        self.request_body = self.response_body = None
        self.upstream_watchdog = None

    def refuse(self, verdict: Verdict) -> None:
        """Record a blocking verdict: the first block wins the decision, every reason is kept."""
        if verdict.reason is not None:
            self.reasons.append(verdict.reason)
        if self.blocked_by is None:
            self.decision = verdict.decision
            self.blocked_by = verdict.reason.stage if verdict.reason else "unknown"

    def note(self, reason: Reason, decision: Decision | None = None) -> None:
        """Record a non-blocking reason (a redaction, a report-mode policy hit, an anomaly)."""
        self.reasons.append(reason)
        if decision is not None and self.blocked_by is None:
            self.decision = decision
