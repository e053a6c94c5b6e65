"""The anomaly stage: requests and their outcomes feed per-entity baselines; alerts are logged, flagged
(X-Palaryn-Anomaly) or blocked (429), and a block raised by a response holds the entity's next requests."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, chat_answer, chat_flow, error_of, flow, metric, ok, state
from mitmproxy import http

from palaryn_proxy.types import Decision


def call(actor: str, url: str = "https://upstream.test/echo") -> http.HTTPFlow:
    return flow(url, headers=[("X-Palaryn-Actor", actor)])


async def test_ordinary_traffic_records_no_anomaly(harness: Callable[..., Harness]) -> None:
    h = harness()
    flows = [call("agent", f"https://upstream.test/echo?n={i}") for i in range(3)]
    for f in flows:
        await h.send(f)
    assert all(state(f).anomalies == [] for f in flows)
    assert all(f.response is not None and "x-palaryn-anomaly" not in f.response.headers for f in flows)
    assert metric(h.runtime.metrics.anomalies) == 0


async def test_a_looping_agent_is_refused_on_the_repeat(harness: Callable[..., Harness]) -> None:
    h = harness(
        {
            "anomaly": {
                "repeat_threshold": 3,
                "repeat_window_seconds": 30,
                "actions": {"repeated_request": "block"},
            }
        }
    )
    flows = [chat_flow(actor="looper") for _ in range(4)]
    for f in flows:
        await h.send(f, chat_answer())
    assert [f.response.status_code for f in flows if f.response is not None] == [200, 200, 429, 429]
    refused = flows[2]
    assert refused.response is not None and refused.response.headers["retry-after"] == "30"
    assert (
        error_of(refused)["type"] == "rate_limit_exceeded"
        and "repeated_request" in error_of(refused)["message"]
    )
    [loop] = [a for a in state(refused).anomalies if a["type"] == "repeated_request"]
    assert loop["action"] == "block" and loop["value"] == 3
    assert state(refused).decision is Decision.RATE_LIMITED and len(h.upstream_saw) == 2
    assert h.record(refused)["anomalies"][0]["type"] == "repeated_request"
    other = chat_flow(actor="calm")  # the same body from another actor is not that actor's loop
    await h.send(other, chat_answer())
    assert other.response is not None and other.response.status_code == 200


async def test_a_new_tool_is_flagged_and_an_upstream_cannot_forge_the_flag(
    harness: Callable[..., Harness],
) -> None:
    h = harness({"anomaly": {"actions": {"new_tool_usage": "flag"}}})
    first = call("agent", "https://upstream.test/echo")
    await h.send(first, ok(**{"X-Palaryn-Anomaly": "forged"}))
    assert first.response is not None and "x-palaryn-anomaly" not in first.response.headers  # first tool ever
    second = call("agent", "https://other.test/echo")
    await h.send(second)
    assert second.response is not None and second.response.headers["x-palaryn-anomaly"] == "new_tool_usage"
    assert second.response.status_code == 200 and state(second).decision is Decision.ALLOW
    assert metric(h.runtime.metrics.anomalies, type="new_tool_usage") == 1


async def test_a_block_raised_by_a_response_holds_the_next_request(harness: Callable[..., Harness]) -> None:
    h = harness(
        {
            "anomaly": {
                "bucket_seconds": 1,
                "window_seconds": 8,
                "min_samples": 2,
                "min_payload_bytes": 10,
                "actions": {"unusual_payload_size": "block"},
            }
        }
    )
    for i in range(4):  # a baseline of small answers
        await h.send(call("agent", f"https://upstream.test/echo?n={i}"), ok(b'{"ok": %d}' % i + b" " * i))
    huge = call("agent", "https://upstream.test/echo?n=huge")
    await h.send(huge, ok(b'{"blob": "' + b"x" * 20_000 + b'"}'))
    assert huge.response is not None and huge.response.status_code == 200  # already answered: it stands
    assert any(a["type"] == "unusual_payload_size" for a in state(huge).anomalies)
    after = call("agent", "https://upstream.test/echo?n=after")
    await h.send(after)
    assert after.response is not None and after.response.status_code == 429
    assert "unusual_payload_size" in error_of(after)["message"]
    assert [a["first"] for a in state(after).anomalies] == [False]  # the hold, not a new alert
