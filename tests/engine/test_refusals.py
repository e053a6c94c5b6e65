"""Refusals in each provider's error shape, with the right status and headers."""

from __future__ import annotations

import json

import pytest

from palaryn_proxy.refusals import render
from palaryn_proxy.types import Decision


@pytest.mark.parametrize(
    "decision, status",
    [
        (Decision.DENY, 403),
        (Decision.BUDGET_EXCEEDED, 402),
        (Decision.RATE_LIMITED, 429),
        (Decision.ERROR, 500),
    ],
)
def test_status_by_decision(decision, status):
    r = render("openai", decision, "msg", "code", "req_1", retry_after=3 if status == 429 else None)
    assert r.status == status
    assert r.headers["X-Palaryn-Decision"] == decision.value and r.headers["X-Palaryn-Request-Id"] == "req_1"
    assert ("retry-after" in r.headers) == (status == 429)


def test_provider_shapes():
    openai_body = json.loads(render("openai", Decision.DENY, "no", "c", "r").body)
    assert openai_body["error"]["message"] == "palaryn: no" and openai_body["error"]["code"] == "c"
    anthropic_body = json.loads(render("anthropic", Decision.DENY, "no", "c", "r").body)
    assert anthropic_body == {
        "type": "error",
        "error": {"type": "permission_error", "message": "palaryn: no"},
    }
    gemini_body = json.loads(render("gemini", Decision.BUDGET_EXCEEDED, "no", "c", "r").body)
    assert gemini_body["error"]["code"] == 402 and gemini_body["error"]["status"] == "RESOURCE_EXHAUSTED"
    generic = json.loads(render(None, Decision.DENY, "no", "c", "r").body)
    assert generic["error"]["decision"] == "deny" and generic["error"]["request_id"] == "r"
    assert render(None, Decision.DENY, "auth", "c", "r", status=407).headers["proxy-authenticate"]
