"""The audit stage: X-Palaryn-Request-Id on every answer, exactly one audit record per flow however it ends
(answered, refused, upstream failure, client gone, proxy shutdown), and the flow counters."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, flow, metric, ok, state
from mitmproxy import flow as mflow


async def test_answer_carries_the_request_id_of_its_one_record(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/echo?api_key=hunter2", "POST", json_body={"x": 1})
    await h.send(f)
    assert f.response is not None
    rid = f.response.headers["x-palaryn-request-id"]
    [record] = h.records()
    assert record["request_id"] == rid == state(f).request_id
    assert (record["method"], record["host"], record["status"], record["decision"]) == (
        "POST",
        "upstream.test",
        200,
        "allow",
    )
    assert record["request_bytes"] == len(b'{"x": 1}') and record["response_bytes"] == len(b'{"ok": true}')
    assert "hunter2" not in record["url"]  # sensitive query values are masked
    assert metric(h.runtime.metrics.audit_records) == 1


async def test_a_flow_ending_twice_is_recorded_once(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/echo")
    await h.send(f)
    f.error = mflow.Error("Client disconnected.")  # mitmproxy may report an error after the response
    await h.hook("error", f)
    again = flow("https://upstream.test/echo")
    await h.send(again)
    await h.hook("response", again)  # a repeated hook writes nothing more
    assert [r["request_id"] for r in h.records()] == [state(f).request_id, state(again).request_id]
    assert h.runtime.stages["audit"].in_flight() == 0


async def test_upstream_failure_is_recorded_502_and_counted(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/echo")
    await h.request_phase(f)
    f.error = mflow.Error("Connection refused")
    await h.hook("error", f)
    record = h.record(f)
    assert (record["status"], record["decision"]) == (502, "error")
    assert record["reasons"][-1] == {
        "stage": "upstream",
        "rule": "upstream_failed",
        "message": "Connection refused",
    }
    assert metric(h.runtime.metrics.upstream_errors, reason="upstream_failed") == 1


async def test_client_leaving_mid_response_is_the_clients_doing(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/echo")
    await h.request_phase(f)
    f.response = ok()
    await h.hook("responseheaders", f)
    f.error = mflow.Error("Client disconnected.")
    await h.hook("error", f)
    record = h.record(f)
    assert record["status"] == 200 and record["reasons"][-1]["stage"] == "client"
    assert record["reasons"][-1]["rule"] == "client_disconnected"
    assert metric(h.runtime.metrics.upstream_errors) == 0


async def test_flows_still_open_at_shutdown_get_their_record(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/slow")
    await h.request_phase(f)
    assert h.runtime.stages["audit"].in_flight() == 1 and h.records() == []
    await h.hook("done")
    record = h.record(f)
    assert record["decision"] == "error" and record["reasons"][-1]["rule"] == "shutdown"
