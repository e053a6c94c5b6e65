"""Render every answer the proxy gives instead of the upstream, in the shape the agent's SDK expects.

LLM hosts get their provider's own error body so SDKs raise a readable error carrying our message;
other hosts get a generic JSON error. Status codes: 403 policy / DLP, 429 (+ Retry-After) rate limits,
402 budgets, 407 proxy auth, 502/504 upstream failures, 500 a failed pipeline stage, 400 malformed requests
and non-HTTP schemes, 408 clients too slow to send their request.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass

from palaryn_proxy.clienterrors import ClientError
from palaryn_proxy.types import Decision

REQUEST_ID_HEADER = "X-Palaryn-Request-Id"
# Set by the audit stage in mitmproxy's error hook, read by the error page mitmproxy writes right after it in
# the same task: (request id, provider error style, status).
UPSTREAM_FAILURE: ContextVar[tuple[str, str | None, int] | None] = ContextVar(
    "palaryn_upstream_failure", default=None
)
# Set by the client stage in mitmproxy's error hook (or the HTTP guard) for a client error answered right
# after it in the same task: (request id, provider error style, the error). Read once, by the error page.
CLIENT_FAILURE: ContextVar[tuple[str, str | None, ClientError] | None] = ContextVar(
    "palaryn_client_failure", default=None
)
DECISION_HEADER = "X-Palaryn-Decision"

_DEFAULT_STATUS = {
    Decision.DENY: 403,
    Decision.APPROVAL_REQUIRED: 403,
    Decision.RATE_LIMITED: 429,
    Decision.BUDGET_EXCEEDED: 402,
    Decision.ERROR: 500,
}
# OpenAI-style `type` and Anthropic-style `error.type` per decision; chosen so SDKs do not retry
# refusals that retrying cannot fix (budget is not a 429 and not `insufficient_quota`).
_OPENAI_TYPE = {
    Decision.DENY: "policy_violation",
    Decision.APPROVAL_REQUIRED: "approval_required",
    Decision.RATE_LIMITED: "rate_limit_exceeded",
    Decision.BUDGET_EXCEEDED: "budget_exceeded",
    Decision.ERROR: "proxy_error",
}
_ANTHROPIC_TYPE = {
    Decision.DENY: "permission_error",
    Decision.APPROVAL_REQUIRED: "permission_error",
    Decision.RATE_LIMITED: "rate_limit_error",
    Decision.BUDGET_EXCEEDED: "billing_error",
    Decision.ERROR: "api_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    403: "PERMISSION_DENIED",
    402: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    407: "UNAUTHENTICATED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    headers: dict[str, str]
    body: bytes


def status_for(decision: Decision, status: int | None = None) -> int:
    return status if status is not None else _DEFAULT_STATUS.get(decision, 403)


def render(
    style: str | None,
    decision: Decision,
    message: str,
    code: str,
    request_id: str,
    status: int | None = None,
    retry_after: int | None = None,
) -> Refusal:
    """A complete refusal. `style` is the provider's error style (openai, anthropic, gemini, ...) or None."""
    status = status_for(decision, status)
    text = f"palaryn: {message}"
    body: object
    if style == "anthropic":
        body = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPE.get(decision, "api_error"), "message": text},
        }
    elif style == "gemini":
        body = {"error": {"code": status, "message": text, "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}
    elif style in ("ollama",):
        body = {"error": text}
    elif style == "bedrock":
        body = {"message": text, "__type": code}
    else:  # openai and every OpenAI-compatible host, cohere, and the generic answer for other hosts
        body = {
            "error": {
                "message": text,
                "type": _OPENAI_TYPE.get(decision, "proxy_error"),
                "code": code,
                "param": None,
            }
        }
        if style is None:
            body["error"]["decision"] = decision.value
            body["error"]["request_id"] = request_id
    headers = {
        "content-type": "application/json",
        REQUEST_ID_HEADER: request_id,
        DECISION_HEADER: decision.value,
    }
    if retry_after is not None:
        headers["retry-after"] = str(max(1, int(retry_after)))
    if status == 407:
        headers["proxy-authenticate"] = 'Basic realm="palaryn"'
    return Refusal(status, headers, json.dumps(body).encode())


def client_error(error: ClientError, request_id: str, style: str | None = None) -> Refusal:
    """The answer to a malformed, too slow or non-HTTP request (400 / 408); the connection closes after it."""
    refusal = render(style, error.decision, error.message, error.code, request_id, status=error.status)
    refusal.headers["connection"] = "close"
    return refusal


def stream_error_event(message: str, code: str) -> bytes:
    """A generic SSE error event for streams cut by the proxy when no provider-specific form is known."""
    payload = {"error": {"message": f"palaryn: {message}", "type": "proxy_error", "code": code}}
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"
