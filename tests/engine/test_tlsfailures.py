"""The refused-handshake log: reason classes, counts per host, bounded size."""

from __future__ import annotations

import json

from palaryn_proxy.tls.failures import REASONS, TlsFailureLog, classify


def test_classify_mitmproxy_messages():
    assert classify(
        "The client does not trust the proxy's certificate for a.test (tlsv1 alert unknown ca)"
    ) == ("untrusted_certificate")
    assert (
        classify("The client disconnected during the handshake. If this happens ...")
        == "closed_during_handshake"
    )
    assert classify("Client and mitmproxy cannot agree on a TLS version to use.") == "tls_version"
    assert classify("Cannot parse ClientHello: ...") == "bad_client_hello"
    assert classify("something new") == "other"
    assert {classify(x) for x in ("", "x", "unknown ca")} <= set(REASONS)


def test_counts_per_host_most_first_and_bounded():
    log = TlsFailureLog(max_hosts=3)
    for host in ["a.test", "B.test", "b.test", "c.test", "d.test"]:
        log.record(host, "does not trust")
    hosts = [f["host"] for f in log.snapshot()]
    assert hosts == ["b.test", "c.test", "d.test"]  # a.test, least recently failing, was dropped
    assert log.snapshot()[0]["count"] == 2
    data = json.loads(log.to_json())
    assert data["dropped_hosts"] == 1 and data["failures"][0]["reason"] == "untrusted_certificate"
    log.record("", "x" * 5000)
    assert any(f["host"] == "(no sni)" and len(f["detail"]) <= 300 for f in log.snapshot())
