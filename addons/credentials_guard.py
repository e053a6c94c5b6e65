"""Credential guard stage (early): a placeholder outside its slot, toward an unbound host or of another actor
is refused 403 before any other stage reads the request; placeholders in their slots are marked for the
credential stage (which injects the real values last) and for the DLP stage (which leaves those slots alone).
On the way back, response headers and buffered bodies are scrubbed of real values before any stage reads them
(streams: the credential stage)."""

from __future__ import annotations

from mitmproxy import ctx, http

from palaryn_proxy.addons._flow import answered, body, guarded, refuse, replace_body, state_of
from palaryn_proxy.credentials.plan import RequestView
from palaryn_proxy.credentials.scrub import scrubbed
from palaryn_proxy.credentials.vault import Vault
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, Reason, Verdict


class CredentialGuardStage:
    def __init__(self, runtime: Runtime, vault: Vault):
        self.runtime = runtime
        self.vault = vault

    @guarded("credentials")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow) or not self.vault:
            return
        req = flow.request
        got = body(req, state, self.runtime.config.decoded_cap) if req.raw_content else None
        view = RequestView(
            host=state.host,
            port=req.port,
            scheme=req.scheme,
            method=req.method,
            url=req.url,
            headers=list(req.headers.items(multi=True)),
            query=list(req.query.items(multi=True)),
            body=got.data if got is not None else b"",
            raw_body=req.raw_content or b"",
        )
        plan = self.vault.judge(view, state.identity.actor)
        if plan.refusal is not None:
            r = plan.refusal
            self.runtime.metrics.credential_refusals.labels(r.name, r.reason).inc()
            reason = Reason("credentials", f"credential:{r.name}:{r.reason}", r.message)
            refuse(flow, Verdict(Decision.DENY, reason, status=403), "credential_refused")
            return
        if plan.uses:
            state.credential_plan = plan

    @guarded("credentials")
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        """A placeholder in a message the agent sends is never a credential's slot: the message is dropped and
        the connection closed."""
        state = state_of(flow)
        if state is None or flow.websocket is None or not self.vault:
            return
        message = flow.websocket.messages[-1]
        names = self.vault.find(message.content.decode("latin-1")) if message.from_client else set()
        if not names:
            return
        name = sorted(names)[0]
        message.drop()
        self.runtime.metrics.credential_refusals.labels(name, "websocket").inc()
        reason = f"placeholder of credential {name} in a WebSocket message; connection closed"
        state.refuse(Verdict(Decision.DENY, Reason("credentials", f"credential:{name}:websocket", reason)))
        _close_upstream(flow)

    @guarded("credentials")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state, resp = state_of(flow), flow.response
        if state is None or resp is None or state.answered_by_proxy or not self.vault:
            return
        scrubber = self.vault.scrubber()
        found: set[str] = set()
        fields = []
        for k, v in resp.headers.fields:
            out, names = scrubber.scrub(v)
            found |= names
            fields.append((k, out))
        if found:
            resp.headers = http.Headers(fields)
            state.note(scrubbed(found), Decision.REDACT)

    @guarded("credentials")
    def response(self, flow: http.HTTPFlow) -> None:
        """A buffered body (streams are the credential stage's) leaves without any real value."""
        state, resp = state_of(flow), flow.response
        if state is None or resp is None or state.answered_by_proxy or resp.stream or not resp.raw_content:
            return
        scrubber = self.vault.scrubber() if self.vault else None
        if not scrubber:
            return
        got = body(resp, state, self.runtime.config.decoded_cap)
        out, found = scrubber.scrub(resp.raw_content if got.oversize else got.data)
        if not found:
            return
        if got.oversize:
            resp.raw_content = out  # past the decoding cap: the value was found in the bytes as sent
        else:
            replace_body(resp, state, out)
        state.note(scrubbed(found), Decision.REDACT)


def _close_upstream(flow: http.HTTPFlow) -> None:
    """End the upstream connection (mitmproxy then closes the client's side): killing a WebSocket flow in
    its message hook does not close it."""
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = proxyserver.connections.get(flow.client_conn.id) if proxyserver else None
    transport = handler.transports.get(flow.server_conn) if handler is not None else None
    if transport is not None and transport.handler is not None:
        transport.handler.cancel("credential placeholder in a WebSocket message")
    else:
        flow.kill()
