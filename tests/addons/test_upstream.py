"""The upstream stage: a deadline for the upstream's response headers, HTTP/2 preferred towards clients that
offer it, WebSocket message history bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from flowkit import Harness, flow, metric
from mitmproxy import ctx, tls
from mitmproxy.proxy.context import Context
from mitmproxy.test import tflow


class FakeSslConn:
    """What tls_start_client reads of pyOpenSSL's connection: mitmproxy's app data dict."""

    def __init__(self, **app_data: Any) -> None:
        self.app_data = {"client_alpn": None, "server_alpn": None, **app_data}

    def get_app_data(self) -> dict[str, Any]:
        return self.app_data


def tls_data(offers: list[bytes], **app_data: Any) -> tls.TlsData:
    client = tflow.tclient_conn()
    client.alpn_offers = offers
    return tls.TlsData(client, Context(client, ctx.options), ssl_conn=FakeSslConn(**app_data))  # type: ignore[arg-type]


async def test_silent_upstream_is_cut_at_the_deadline_and_recorded_504(
    harness: Callable[..., Harness],
) -> None:
    h = harness({"upstream_timeout": 0.3})
    f = flow("https://upstream.test/slow")
    await h.request_phase(f)
    await asyncio.sleep(0.1)
    assert f.error is None and f.live  # still within the deadline
    await asyncio.sleep(0.4)
    assert f.error is not None and not f.live  # ended, so mitmproxy answers the client now
    await h.hook("error", f)  # what mitmproxy calls next
    record = h.record(f)
    assert (record["status"], record["decision"]) == (504, "error")
    assert record["reasons"][-1]["rule"] == "timeout" and "0.3s" in record["reasons"][-1]["message"]
    assert metric(h.runtime.metrics.upstream_errors, reason="timeout") == 1


async def test_h2_is_preferred_when_the_client_offers_it(harness: Callable[..., Harness]) -> None:
    h = harness()
    offered = tls_data([b"http/1.1", b"h2"])
    await h.hook("tls_start_client", offered)
    assert offered.ssl_conn.app_data["client_alpn"] == b"h2"  # type: ignore[union-attr]
    only_h1 = tls_data([b"http/1.1"])
    await h.hook("tls_start_client", only_h1)
    assert only_h1.ssl_conn.app_data["client_alpn"] is None  # type: ignore[union-attr]
    negotiated = tls_data([b"http/1.1", b"h2"], server_alpn=b"http/1.1")  # the upstream already chose
    await h.hook("tls_start_client", negotiated)
    assert negotiated.ssl_conn.app_data["client_alpn"] is None  # type: ignore[union-attr]


async def test_h2_is_not_offered_when_mitmproxy_has_it_off(harness: Callable[..., Harness]) -> None:
    h = harness()
    ctx.options.http2 = False
    try:
        data = tls_data([b"h2", b"http/1.1"])
        await h.hook("tls_start_client", data)
    finally:
        ctx.options.http2 = True
    assert data.ssl_conn.app_data["client_alpn"] is None  # type: ignore[union-attr]


async def test_websocket_history_keeps_only_the_newest_messages(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = tflow.twebsocketflow()
    assert f.websocket is not None
    messages = f.websocket.messages
    while len(messages) < 40:
        messages.extend(list(messages))
    newest = messages[-1]
    await h.hook("websocket_message", f)
    assert len(f.websocket.messages) == 16 and f.websocket.messages[-1] is newest
