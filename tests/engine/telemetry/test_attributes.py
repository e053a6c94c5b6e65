"""Span names and attributes of finished flows (HTTP client and GenAI conventions), and the `otel` section."""

from __future__ import annotations

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.telemetry import FlowFacts, finish_reasons, parse_otel_config
from palaryn_proxy.telemetry.attributes import metric_attributes, span_attributes, span_name


def llm_record(**over: object) -> dict:
    record = {
        "request_id": "r1",
        "actor": "bot",
        "workspace": "ws",
        "task": None,
        "method": "POST",
        "url": "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent?key=***",
        "host": "generativelanguage.googleapis.com",
        "kind": "llm",
        "decision": "allow",
        "reasons": [],
        "status": 200,
        "request_bytes": 10,
        "response_bytes": 20,
        "provider": "gemini",
        "api": "generateContent",
        "model": "gemini-2.0-flash-001",
        "usage": {
            "input_tokens": 7,
            "output_tokens": 5,
            "cache_read_tokens": 2,
            "cache_write_tokens": 1,
            "reasoning_tokens": 3,
            "estimated": False,
        },
        "cost_usd": "0.000123",
        "dlp": [{"type": "aws_access_key", "direction": "request", "action": "redact"}],
        "anomalies": [],
    }
    record.update(over)
    return record


def test_genai_span_of_a_gemini_call():
    facts = FlowFacts(llm_record(), 0.5, request_model="gemini-2.0-flash", finish_reasons=("STOP",))
    assert span_name(facts) == "generate_content gemini-2.0-flash"
    attrs = span_attributes(facts)
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.request.model"] == "gemini-2.0-flash"
    assert attrs["gen_ai.response.model"] == "gemini-2.0-flash-001"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 5)
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 1
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ["STOP"]
    assert attrs["server.port"] == 443 and attrs["url.full"].endswith("key=***")
    assert attrs["palaryn.cost_usd"] == pytest.approx(0.000123)
    assert attrs["palaryn.findings.count"] == 1 and attrs["palaryn.findings.types"] == ["aws_access_key"]
    assert "error.type" not in attrs


def test_failed_and_refused_flows_carry_error_type():
    refused = span_attributes(FlowFacts(llm_record(status=402, decision="budget_exceeded"), 0.1))
    assert refused["error.type"] == "402"
    lost = llm_record(status=None, decision="error", reasons=[{"stage": "upstream", "rule": "timeout"}])
    assert span_attributes(FlowFacts(lost, 1.0))["error.type"] == "timeout"
    assert metric_attributes(FlowFacts(lost, 1.0))["error.type"] == "timeout"


def test_http_flow_has_no_genai_attributes_and_is_named_by_method():
    record = llm_record(kind="http", provider=None, api=None, model=None, usage=None, method="GET")
    record["url"], record["host"] = "http://plain.test:8080/x", "plain.test"
    facts = FlowFacts(record, 0.01)
    attrs = span_attributes(facts)
    assert span_name(facts) == "GET"
    assert not [k for k in attrs if k.startswith("gen_ai.")]
    assert attrs["server.port"] == 8080


def test_metric_attributes_are_bounded():
    attrs = metric_attributes(FlowFacts(llm_record(), 0.5, request_model="gemini-2.0-flash"))
    assert set(attrs) == {
        "gen_ai.provider.name",
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "server.address",
    }


def test_finish_reasons_of_each_provider_shape():
    assert finish_reasons(b'{"choices":[{"finish_reason":"stop"},{"finish_reason": "length"}]}') == (
        "stop",
        "length",
    )
    assert finish_reasons(b'{"stop_reason":"end_turn"}') == ("end_turn",)
    assert finish_reasons(b'{"candidates":[{"finishReason":"STOP"}]}') == ("STOP",)
    assert finish_reasons(b'{"finish_reason":null}') == ()
    assert finish_reasons(None) == ()


def test_otel_section():
    assert parse_otel_config({}).enabled is False
    assert parse_otel_config({"otel": {"enabled": True}}).enabled is True
    with pytest.raises(ConfigError, match="otel.endpoint"):
        parse_otel_config({"otel": {"endpoint": "http://x"}})
    with pytest.raises(ConfigError, match="true or false"):
        parse_otel_config({"otel": {"enabled": "yes"}})
