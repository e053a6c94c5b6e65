"""SSRF and destination stage: one destination per request, checked on the resolved address that is dialled.

Requests are judged on their own Host: a Host or SNI that differs from the CONNECT target is refused
(domain fronting). The destination is resolved once, every address is checked (loopback, private, metadata,
...), and `server_connect` dials exactly the address that was checked, so DNS rebinding has no window.
`resolve_overrides` pins names too (checked like any other address).
"""

from __future__ import annotations

import time
import weakref

from mitmproxy import connection, http
from mitmproxy.proxy import server_hooks

from palaryn_proxy.addons._flow import answered, guarded, refuse, state_of
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.ssrf import SsrfGuard
from palaryn_proxy.types import Decision, Reason, Verdict

PIN_SECONDS = 60.0  # a checked address is reused for the connection opened right after the check


class SsrfStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        config = runtime.config
        self.overrides = {k.lower(): v for k, v in config.resolve_overrides.items()}
        static = {
            key.rsplit(":", 1)[0] if key.count(":") == 1 else key: target.rpartition(":")[0].strip("[]")
            for key, target in self.overrides.items()
        }  # overridden names are checked like DNS answers
        self.guard = SsrfGuard(config.sections.ssrf, static_hosts=static)
        self.enabled = self.guard.config.enabled
        self.pins: dict[tuple[str, int], tuple[str, float]] = {}
        # server connection id -> the (host, port) it stands for
        self.dialled: dict[str, tuple[str, int]] = {}
        self.tunnels: weakref.WeakKeyDictionary[connection.Client, str] = weakref.WeakKeyDictionary()

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self.tunnels[flow.client_conn] = flow.request.host.lower().rstrip(".")

    @guarded("ssrf")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if answered(flow) or not self.runtime.config.destination_binding:
            return
        state = state_of(flow)
        host = (state.host if state is not None else flow.request.pretty_host).lower().rstrip(".")
        target = self.tunnels.get(flow.client_conn)
        sni = (flow.client_conn.sni or "").lower().rstrip(".")
        if (target and host != target) or (sni and host != sni):
            expected = target or sni
            reason = Reason(
                "ssrf",
                "destination_mismatch",
                f"request for {host} inside a connection to {expected} (domain fronting) is refused",
            )
            refuse(flow, Verdict(Decision.DENY, reason, status=403), "destination_mismatch")

    @guarded("ssrf")
    async def request(self, flow: http.HTTPFlow) -> None:
        """Resolve and check now, so a refusal is a clear 403 rather than a dropped connection."""
        state = state_of(flow)
        if not self.enabled or state is None or answered(flow):
            return
        host, port = flow.request.host, flow.request.port
        target = self._override(host, port)
        verdict = await self.guard.resolve_and_check(host, port)
        if not verdict.allowed:
            cls = verdict.address_class or "denied"
            reason = Reason("ssrf", f"ssrf:{cls}", f"{host} is not reachable: {verdict.reason} ({cls})")
            refuse(flow, Verdict(Decision.DENY, reason, status=403), f"ssrf_{cls}")
            return
        if verdict.pinned_ip and target is None:
            self.pins[(host.lower(), port)] = (verdict.pinned_ip, time.monotonic() + PIN_SECONDS)

    @guarded("ssrf")
    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Dial the address that was checked (or the override), never a second DNS answer."""
        if data.server.address is None:
            return
        host, port = str(data.server.address[0]), int(data.server.address[1])
        target = self._override(host, port)
        if target is None and self.enabled:
            pinned = self.pins.pop((host.lower(), port), None)
            if pinned is not None and pinned[1] > time.monotonic():
                target = (pinned[0], port)
            else:  # a connection nobody checked yet (e.g. a passthrough tunnel): check it here
                verdict = await self.guard.resolve_and_check(host, port)
                if not verdict.allowed:
                    data.server.error = f"palaryn: {host} refused by the SSRF guard ({verdict.address_class})"
                    return
                target = (verdict.pinned_ip, port) if verdict.pinned_ip else None
        if target is None:
            return
        if data.server.tls and data.server.sni is None:
            data.server.sni = host  # keep SNI and certificate verification on the name
        self.dialled[data.server.id] = (host, port)
        data.server.address = target

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Give the connection its name back, so mitmproxy reuses it for the next request to that host."""
        original = self.dialled.pop(data.server.id, None)
        if original is not None:
            # mitmproxy forbids changing the address of an open connection because it would redirect it;
            # here it only relabels the connection (the peer stays `peername`) so it is found again by name.
            object.__setattr__(data.server, "address", original)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        self.dialled.pop(data.server.id, None)

    def _override(self, host: str, port: int) -> tuple[str, int] | None:
        found = self.overrides.get(f"{host}:{port}".lower()) or self.overrides.get(host.lower())
        if found is None:
            return None
        ip, _, target_port = found.rpartition(":")
        return ip.strip("[]"), int(target_port)
