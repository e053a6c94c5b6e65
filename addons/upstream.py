"""Upstream stage: a deadline for the upstream's first byte, and upstream failure accounting."""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import ctx, http, tls

from palaryn_proxy.addons._flow import answered, guarded, state_of
from palaryn_proxy.runtime import Runtime

log = logging.getLogger("palaryn")
WEBSOCKET_KEEP = 16


class UpstreamStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def tls_start_client(self, data: tls.TlsData) -> None:
        """Prefer HTTP/2 when the client offers it, as the providers' own servers do.

        With lazy upstream connections mitmproxy would take the client's first ALPN offer, and httpx offers
        http/1.1 before h2; the upstream leg is negotiated separately (and translated to HTTP/1.1 if need be).
        """
        offers = data.context.client.alpn_offers or []
        if b"h2" in offers and data.ssl_conn is not None and ctx.options.http2:
            app_data = data.ssl_conn.get_app_data()
            if (
                isinstance(app_data, dict)
                and app_data.get("client_alpn") is None
                and not app_data.get("server_alpn")
            ):
                app_data["client_alpn"] = b"h2"

    @guarded("upstream")
    def request(self, flow: http.HTTPFlow) -> None:
        """Last request-phase stage: the flow now goes upstream; start its deadline."""
        state = state_of(flow)
        if answered(flow) or state is None:
            return
        timeout = float(self.runtime.config.upstream_timeout)
        state.upstream_watchdog = asyncio.get_running_loop().call_later(timeout, self._expire, flow, timeout)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._disarm(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        """mitmproxy keeps every message of a WebSocket for its lifetime; keep only the newest few."""
        assert flow.websocket is not None
        if len(flow.websocket.messages) > WEBSOCKET_KEEP:
            del flow.websocket.messages[:-WEBSOCKET_KEEP]

    def error(self, flow: http.HTTPFlow) -> None:
        self._disarm(flow)

    def _disarm(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and state.upstream_watchdog is not None:
            state.upstream_watchdog.cancel()
            state.upstream_watchdog = None

    def _expire(self, flow: http.HTTPFlow, timeout: float) -> None:
        """The upstream stayed silent too long: end its connection so the client gets an answer now."""
        state = state_of(flow)
        if state is None or flow.response is not None or flow.error is not None:
            return
        state.upstream_watchdog = None
        state.upstream_timeout = timeout
        proxyserver = ctx.master.addons.get("proxyserver")
        handler = proxyserver.connections.get(flow.client_conn.id) if proxyserver else None
        transport = handler.transports.get(flow.server_conn) if handler is not None else None
        if transport is not None and transport.handler is not None:
            transport.handler.cancel(f"upstream timeout after {timeout:g}s")
        else:
            flow.kill()
