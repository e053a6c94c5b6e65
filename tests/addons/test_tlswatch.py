"""The TLS watch stage: client handshakes the client refused are counted per host and reason for the doctor."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, metric
from mitmproxy import connection, ctx, tls
from mitmproxy.proxy.context import Context
from mitmproxy.test import tflow

UNTRUSTED = (
    "Client TLS handshake failed. The client does not trust the proxy's certificate for pinned.example "
    "(tlsv1 alert unknown ca)"
)


def failed_handshake(sni: str | None, error: str, server: tuple[str, int] | None = None) -> tls.TlsData:
    client = tflow.tclient_conn()
    client.sni = sni
    client.error = error
    context = Context(client, ctx.options)
    context.server = connection.Server(address=server)
    return tls.TlsData(client, context)


async def test_refused_handshakes_are_counted_per_host_and_reason(harness: Callable[..., Harness]) -> None:
    h = harness()
    for _ in range(2):
        await h.hook("tls_failed_client", failed_handshake("Pinned.Example", UNTRUSTED))
    await h.hook(
        "tls_failed_client", failed_handshake("other.example", "client disconnected during the handshake")
    )
    failures = h.runtime.stages["tls_failures"].snapshot()  # what /tls-failures serves
    assert [(f["host"], f["count"], f["reason"]) for f in failures] == [
        ("pinned.example", 2, "untrusted_certificate"),
        ("other.example", 1, "closed_during_handshake"),
    ]
    assert metric(h.runtime.metrics.tls_client_failures, reason="untrusted_certificate") == 2
    assert metric(h.runtime.metrics.tls_client_failures, reason="closed_during_handshake") == 1


async def test_without_sni_the_destination_address_names_the_host(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.hook("tls_failed_client", failed_handshake(None, "unsupported protocol", ("203.0.113.7", 443)))
    [failure] = h.runtime.stages["tls_failures"].snapshot()
    assert (failure["host"], failure["reason"]) == ("203.0.113.7", "tls_version")


async def test_a_failure_without_an_error_text_is_still_counted(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.hook("tls_failed_client", failed_handshake("quiet.example", ""))
    [failure] = h.runtime.stages["tls_failures"].snapshot()
    assert (failure["host"], failure["count"], failure["reason"], failure["detail"]) == (
        "quiet.example",
        1,
        "other",
        "handshake failed",
    )
    assert metric(h.runtime.metrics.tls_client_failures, reason="other") == 1
