"""What a scan returns: findings (never the value), the injection verdict, the redacted parts and the action."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..types import Reason

ALLOW = "allow"
REDACT = "redact"
BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected secret or piece of personal data.

    `start`/`end` are offsets in the part named by `location`: bytes of the body, characters of the
    header value or of path_and_query. `hash` is a keyed SHA-256 prefix of the (normalised) value; the
    value itself is never kept. `preview` is the public prefix of the format (at most 4 chars) or "".
    """

    type: str
    group: str  # "secrets" | "pii"
    direction: str  # "request" | "response"
    location: str  # "request.body:$.messages[2].content", "request.header:X-Api-Key", "response.body"
    action: str  # "log" | "redact" | "block"
    start: int
    end: int
    hash: str
    preview: str = ""

    def to_audit(self) -> dict[str, str]:
        """The audit `dlp` entry: {type, direction, location, action}."""
        return {
            "type": self.type,
            "direction": self.direction,
            "location": self.location,
            "action": self.action,
        }


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """Prompt-injection heuristics over content flowing back to a model."""

    score: float  # 0..1
    signals: tuple[str, ...]  # e.g. ("instruction_override", "hidden_html_comment")
    location: str
    action: str  # "log" | "flag" | "block" when score >= threshold, else "none"

    @property
    def triggered(self) -> bool:
        return self.action != "none"

    def reason(self) -> Reason:
        signals = ", ".join(self.signals) or "none"
        return Reason(
            "injection", "prompt_injection", f"score={self.score:.2f} signals={signals} in {self.location}"
        )


@dataclass(slots=True)
class ScanResult:
    direction: str
    findings: list[Finding] = field(default_factory=list)
    action: str = ALLOW  # "allow" | "redact" | "block"
    redacted_body: bytes | None = None
    redacted_path_and_query: str | None = None
    redacted_headers: list[tuple[str, str]] | None = None
    injection: InjectionResult | None = None
    oversize: bool = False  # the body exceeded dlp.max_scan_bytes (see DlpConfig.oversize)
    block_reason: Reason | None = None  # set whenever action == "block": the first cause
    notes: list[Reason] = field(default_factory=list)  # non-blocking remarks (oversize body passed)

    @property
    def blocked(self) -> bool:
        return self.action == BLOCK

    @property
    def warning_header(self) -> str | None:
        """Value for `X-Palaryn-Warning` when prompt injection was flagged (or blocked)."""
        if self.injection is None or self.injection.action not in ("flag", "block"):
            return None
        return f"prompt-injection; score={self.injection.score:.2f}"

    def audit(self) -> list[dict[str, str]]:
        return [f.to_audit() for f in self.findings]

    def reasons(self) -> list[Reason]:
        """For the audit `reasons`: one per blocking or redacting detector type (stage "dlp", rule = the
        type), the notes, and the injection verdict (stage "injection") when it triggered."""
        out: list[Reason] = []
        seen: set[tuple[str, str]] = set()
        for f in self.findings:
            if f.action in (BLOCK, REDACT) and (f.type, f.action) not in seen:
                seen.add((f.type, f.action))
                out.append(finding_reason(f))
        out += [n for n in self.notes if n not in out]
        if self.block_reason is not None and self.block_reason not in out:
            out.append(self.block_reason)
        if self.injection is not None and self.injection.triggered and self.injection.reason() not in out:
            out.append(self.injection.reason())
        return out


def finding_reason(f: Finding) -> Reason:
    """Names the type and the location, never the value."""
    verb = "blocked" if f.action == BLOCK else "redacted" if f.action == REDACT else "logged"
    return Reason("dlp", f.type, f"{f.type} in {f.location} ({verb})")
