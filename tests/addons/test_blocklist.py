"""The blocklist stage: hosts matching `block_domains` are answered 403 before anything goes upstream."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, error_of, flow, state

from palaryn_proxy.types import Decision

BLOCKED = {"block_domains": ["*.blocked.test", "exact.test"]}


async def test_blocked_host_gets_403_and_nothing_goes_upstream(harness: Callable[..., Harness]) -> None:
    h = harness(BLOCKED)
    f = flow("https://api.blocked.test/upload", "POST", json_body={"data": 1})
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    assert f.response.headers["x-palaryn-decision"] == "deny"
    assert f.response.headers["x-palaryn-request-id"] == state(f).request_id
    error = error_of(f)
    assert error["code"] == "domain_blocked" and "api.blocked.test" in error["message"]
    assert h.upstream_saw == []
    record = h.record(f)
    assert (record["status"], record["decision"]) == (403, "deny")
    assert [(r["stage"], r["rule"]) for r in record["reasons"]] == [
        ("blocklist", "block_domains:*.blocked.test")
    ]


async def test_other_hosts_pass(harness: Callable[..., Harness]) -> None:
    h = harness(BLOCKED)
    f = flow("https://upstream.test/echo")
    await h.send(f)
    assert f.response is not None and f.response.status_code == 200
    assert state(f).decision is Decision.ALLOW and len(h.upstream_saw) == 1


async def test_blocked_host_on_a_plain_request_and_with_a_port(harness: Callable[..., Harness]) -> None:
    h = harness(BLOCKED)
    f = flow("http://EXACT.test:8080/x")
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    assert state(f).reasons[0].rule == "block_domains:exact.test"
