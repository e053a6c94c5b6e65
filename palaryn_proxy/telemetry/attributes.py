"""A finished flow as OpenTelemetry sees it: span name and attributes (HTTP client and GenAI conventions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Our provider ids -> the GenAI conventions' well-known `gen_ai.provider.name` values (others pass as they are).
PROVIDER_NAMES = {
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}
_EMBEDDING_APIS = ("embeddings", "embedContent", "batchEmbedContents", "embed")
_GENERATE_APIS = ("generateContent", "streamGenerateContent")
# Finish reasons as OpenAI, Anthropic, Gemini and Cohere spell their fields in a JSON answer.
_FINISH = re.compile(rb'"(?:finish_reason|stop_reason|finishReason)"\s*:\s*"([A-Za-z_\-]{1,40})"')
FINISH_SCAN_BYTES = 1 << 20  # larger answers are not searched for finish reasons


@dataclass(frozen=True, slots=True)
class FlowFacts:
    """What the exporter needs of a finished flow: its audit record plus what the record leaves out."""

    record: dict[str, Any]
    duration_s: float
    request_model: str | None = None
    ttft_s: float | None = None  # request start to the first generated token (streams only)
    finish_reasons: tuple[str, ...] = ()
    traceparent: str | None = None
    tracestate: str | None = None


def finish_reasons(body: bytes | None) -> tuple[str, ...]:
    """The finish reasons a buffered JSON answer names, in order, without repeats."""
    if not body or len(body) > FINISH_SCAN_BYTES:
        return ()
    return tuple(dict.fromkeys(m.decode() for m in _FINISH.findall(body)))


def operation_name(api: str | None) -> str:
    if api is None:
        return "chat"
    if api in _EMBEDDING_APIS or api.endswith("embeddings"):
        return "embeddings"
    if api == "completions":
        return "text_completion"
    if api in _GENERATE_APIS:
        return "generate_content"
    return "chat"


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def is_llm(facts: FlowFacts) -> bool:
    return facts.record.get("kind") == "llm" and facts.record.get("provider") is not None


def span_name(facts: FlowFacts) -> str:
    """GenAI spans are `{operation} {model}`, HTTP client spans the method alone (no high-cardinality URL)."""
    record = facts.record
    if is_llm(facts):
        model = facts.request_model or record.get("model")
        operation = operation_name(record.get("api"))
        return f"{operation} {model}" if model else operation
    return str(record.get("method") or "HTTP")


def http_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """HTTP client span attributes; `url.full` is the audit record's (sensitive query values masked)."""
    url = str(record.get("url") or "")
    parts = urlsplit(url)
    attrs: dict[str, Any] = {
        "http.request.method": record.get("method") or "_OTHER",
        "url.full": url,
        "server.address": record.get("host") or parts.hostname or "",
    }
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    if port is not None:
        attrs["server.port"] = port
    if record.get("status") is not None:
        attrs["http.response.status_code"] = int(record["status"])
    attrs["http.request.body.size"] = int(record.get("request_bytes") or 0)
    attrs["http.response.body.size"] = int(record.get("response_bytes") or 0)
    error = error_type(record)
    if error is not None:
        attrs["error.type"] = error
    return attrs


def error_type(record: dict[str, Any]) -> str | None:
    """`error.type`: the HTTP status of a failed call, else the proxy's refusal or failure rule."""
    status = record.get("status")
    if isinstance(status, int) and status >= 400:
        return str(status)
    if record.get("decision") == "error":
        reasons = record.get("reasons") or []
        return str(reasons[-1]["rule"]) if reasons else "_OTHER"
    return None


def genai_attributes(facts: FlowFacts) -> dict[str, Any]:
    """The GenAI conventions' request, response and usage attributes of an LLM call."""
    record = facts.record
    attrs: dict[str, Any] = {
        "gen_ai.provider.name": provider_name(str(record["provider"])),
        "gen_ai.operation.name": operation_name(record.get("api")),
    }
    request_model = facts.request_model or record.get("model")
    if request_model:
        attrs["gen_ai.request.model"] = request_model
    if record.get("model"):
        attrs["gen_ai.response.model"] = record["model"]
    usage = record.get("usage")
    if usage:
        attrs["gen_ai.usage.input_tokens"] = usage["input_tokens"]
        attrs["gen_ai.usage.output_tokens"] = usage["output_tokens"]
        attrs["gen_ai.usage.cache_read.input_tokens"] = usage["cache_read_tokens"]
        attrs["gen_ai.usage.cache_creation.input_tokens"] = usage["cache_write_tokens"]
        attrs["gen_ai.usage.reasoning.output_tokens"] = usage["reasoning_tokens"]
    if facts.finish_reasons:
        attrs["gen_ai.response.finish_reasons"] = list(facts.finish_reasons)
    return attrs


def palaryn_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """Our own attributes: who, what was decided and why, what it cost, what was found."""
    attrs: dict[str, Any] = {
        "palaryn.request_id": record.get("request_id") or "",
        "palaryn.actor": record.get("actor") or "",
        "palaryn.workspace": record.get("workspace") or "",
        "palaryn.kind": record.get("kind") or "",
        "palaryn.decision": record.get("decision") or "",
    }
    if record.get("task"):
        attrs["palaryn.task"] = record["task"]
    if record.get("cost_usd") is not None:
        attrs["palaryn.cost_usd"] = float(record["cost_usd"])
    if record.get("usage") and record["usage"].get("estimated"):
        attrs["palaryn.usage.estimated"] = True
    rules = [f"{r['stage']}:{r['rule']}" for r in record.get("reasons") or []]
    if rules:
        attrs["palaryn.reasons"] = rules
    findings = record.get("dlp") or []
    attrs["palaryn.findings.count"] = len(findings)
    if findings:
        attrs["palaryn.findings.types"] = sorted({str(f.get("type", "?")) for f in findings})
    anomalies = record.get("anomalies") or []
    if anomalies:
        attrs["palaryn.anomalies"] = sorted({str(a.get("type", "?")) for a in anomalies})
    return attrs


def span_attributes(facts: FlowFacts) -> dict[str, Any]:
    attrs = http_attributes(facts.record)
    if is_llm(facts):
        attrs.update(genai_attributes(facts))
    attrs.update(palaryn_attributes(facts.record))
    return attrs


def metric_attributes(facts: FlowFacts) -> dict[str, Any]:
    """The GenAI metrics' attributes (bounded: provider, operation, models, server, error)."""
    record = facts.record
    attrs = {
        k: v
        for k, v in genai_attributes(facts).items()
        if k
        in ("gen_ai.provider.name", "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model")
    }
    attrs["server.address"] = record.get("host") or ""
    error = error_type(record)
    if error is not None:
        attrs["error.type"] = error
    return attrs
