"""Identity stage: proxy authentication (407), actor/workspace/task/tags, request id; strips X-Palaryn-*."""

from __future__ import annotations

import time
import weakref
from datetime import UTC, datetime

from mitmproxy import connection, http, tls
from mitmproxy.net.http import url as urls
from mitmproxy.proxy import mode_specs

from palaryn_proxy.addons._flow import STATE_KEY, answered, guarded, header, refuse, state_of
from palaryn_proxy.classify import capability_for
from palaryn_proxy.identity import HEADER_PREFIX, new_request_id, parse_basic
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Capability, Decision, FlowState, Identity, Kind, Reason, Verdict

PROXY_AUTH = "proxy-authorization"
PROXY_AUTH_BYTES = PROXY_AUTH.encode()
_PREFIX = HEADER_PREFIX.encode()
_PREFIX_LEN = len(_PREFIX)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def host_and_url(req: http.Request) -> tuple[str, str]:
    """`(req.pretty_host, req.pretty_url)` with the Host header parsed once rather than twice."""
    authority = req.host_header
    if req.first_line_format == "authority" or not authority:
        return req.pretty_host, req.pretty_url
    host, port = urls.parse_authority(authority, check=False)
    port = port or urls.default_port(req.scheme) or 443
    return host, urls.unparse(req.scheme, host, port, req.path if req.path != "*" else "")


def _client_ip(conn: connection.Client) -> str:
    return str(conn.peername[0]) if conn.peername else ""


class IdentityStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        # Actor authenticated on a client connection's CONNECT, for every request inside that tunnel.
        self._tunnel_actor: weakref.WeakKeyDictionary[connection.Client, str | None] = (
            weakref.WeakKeyDictionary()
        )

    def _new_state(self, flow: http.HTTPFlow, identity: Identity) -> FlowState:
        req = flow.request
        host, url = host_and_url(req)
        return FlowState(
            request_id=new_request_id(),
            started=time.monotonic(),
            ts=_now_iso(),
            identity=identity,
            client=_client_ip(flow.client_conn),
            method=req.method,
            url=url,
            host=host,
            capability=capability_for(req.method),
        )

    @guarded("identity")
    def http_connect(self, flow: http.HTTPFlow) -> None:
        creds = parse_basic(header(flow.request, PROXY_AUTH_BYTES))
        result = self.runtime.identity.authenticate(creds)
        if result.ok:
            self._tunnel_actor[flow.client_conn] = result.actor
            return
        state = self._new_state(flow, self.runtime.identity.resolve(None, {}, _client_ip(flow.client_conn)))
        state.capability = Capability.READ
        flow.metadata[STATE_KEY] = state
        refuse(
            flow,
            Verdict(Decision.DENY, Reason("identity", "proxy_auth", result.message), status=407),
            "proxy_auth_required",
        )

    @guarded("identity")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if state_of(flow) is not None:
            return
        req = flow.request
        ip = _client_ip(flow.client_conn)
        auth_message = None
        authed: str | None = None
        proxy_auth = header(req, PROXY_AUTH_BYTES, None)
        if proxy_auth is not None:  # plain-HTTP request through the proxy: credentials on every request
            result = self.runtime.identity.authenticate(parse_basic(proxy_auth))
            del req.headers[PROXY_AUTH]
            authed, auth_message = result.actor, (None if result.ok else result.message)
        elif flow.client_conn in self._tunnel_actor:
            authed = self._tunnel_actor[flow.client_conn]
        elif self.runtime.identity.auth_required and isinstance(
            flow.client_conn.proxy_mode, mode_specs.RegularMode
        ):
            auth_message = self.runtime.identity.authenticate(None).message
        headers: dict[str, str] = {}
        if any(name[:_PREFIX_LEN].lower() == _PREFIX for name, _ in req.headers.fields):  # raw bytes: cheap
            headers = {k.lower(): v for k, v in req.headers.items() if k.lower().startswith(HEADER_PREFIX)}
            for name in headers:
                del req.headers[name]
        identity = self.runtime.identity.resolve(authed, headers, ip)
        state = self._new_state(flow, identity)
        flow.metadata[STATE_KEY] = state
        if auth_message is not None and not answered(flow):
            refuse(
                flow,
                Verdict(Decision.DENY, Reason("identity", "proxy_auth", auth_message), status=407),
                "proxy_auth_required",
            )

    @guarded("identity")
    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """Tunnel `passthrough_hosts` without interception (pinned clients) and audit the tunnel."""
        if not self.runtime.passthrough:
            return
        server = data.context.server.address
        host = data.client_hello.sni or (server[0] if server else "")
        rule = self.runtime.passthrough.match(host)
        if rule is None:
            return
        data.ignore_connection = True
        client = data.context.client
        state = FlowState(
            request_id=new_request_id(),
            started=time.monotonic(),
            ts=_now_iso(),
            identity=self.runtime.identity.resolve(self._tunnel_actor.get(client), {}, _client_ip(client)),
            client=_client_ip(client),
            method="CONNECT",
            url=f"https://{host}:{server[1] if server else 443}",
            host=host,
            kind=Kind.PASSTHROUGH,
            capability=Capability.READ,
            tool="tls.passthrough",
        )
        state.note(Reason("identity", f"passthrough_hosts:{rule}", "tunnelled without interception"))
        self.runtime.finish(state, 0.0)
