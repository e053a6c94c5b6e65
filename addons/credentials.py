"""Credential stage (last of the request phase): placeholders in their slots become the real values just
before the request leaves; response streams from any host are scrubbed of every real value (buffered bodies
and headers: the credential guard stage, before the other stages read them)."""

from __future__ import annotations

import asyncio
import base64

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, content_encoding, guarded, refuse, state_of
from palaryn_proxy.credentials import sigv4
from palaryn_proxy.credentials.plan import Use, unformat
from palaryn_proxy.credentials.scrub import StreamScrubber, scrubbed
from palaryn_proxy.credentials.sources import ResolveError
from palaryn_proxy.credentials.stream import ScrubbedStream
from palaryn_proxy.credentials.vault import Vault
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, FlowState, Reason, Verdict


class CredentialStage:
    def __init__(self, runtime: Runtime, vault: Vault):
        self.runtime = runtime
        self.vault = vault

    @guarded("credentials")
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        plan = state.credential_plan if state is not None else None
        if state is None or plan is None or answered(flow):
            return
        for use in plan.uses:
            if self.vault.stale(use.name):  # a command's cache expired: run it off the loop
                await asyncio.to_thread(self.vault.sources[use.name].refresh)
            try:
                self._inject(flow, state, use)
            except (ResolveError, ValueError) as exc:
                self._refuse(
                    flow, use.name, "unresolved", f"credential {use.name} has no usable value: {exc}"
                )
                return
            except sigv4.SignatureError as exc:
                self._refuse(flow, use.name, "bad_signature", f"credential {use.name}: {exc}")
                return
        for use in plan.uses:
            self.runtime.metrics.credential_injections.labels(use.name).inc()
            if use.name not in state.credentials:
                state.credentials.append(use.name)

    def _inject(self, flow: http.HTTPFlow, state: FlowState, use: Use) -> None:
        spec = self.vault.spec(use.name)
        real = self.vault.real(spec, self.vault.value(use.name))
        req = flow.request
        if isinstance(real, sigv4.AwsKeys):
            assert spec.aws is not None
            headers = sigv4.resign(
                req.method,
                req.url,
                list(req.headers.items(multi=True)),
                req.raw_content or b"",
                placeholder=self.vault.placeholders.aws(spec, state.identity.actor),
                real=real,
                service=spec.aws[0],
                region=spec.aws[1],
            )
            req.headers = http.Headers([(k.encode(), v.encode()) for k, v in headers])
        elif use.kind == "query":
            req.query.set_all(
                use.field, [real if v == use.token else v for v in req.query.get_all(use.field)]
            )
        elif use.kind == "basic":
            pair = f"{spec.basic_username}:{real}".encode()
            req.headers[use.field] = "Basic " + base64.b64encode(pair).decode()
        else:
            fmt = dict(spec.headers)[use.field]
            values = req.headers.get_all(use.field)
            filled = fmt.replace("{value}", real)
            req.headers.set_all(use.field, [filled if unformat(fmt, v) == use.token else v for v in values])

    def _refuse(self, flow: http.HTTPFlow, name: str, code: str, message: str) -> None:
        self.runtime.metrics.credential_refusals.labels(name, code).inc()
        status = 503 if code == "unresolved" else 403
        decision = Decision.ERROR if code == "unresolved" else Decision.DENY
        refuse(
            flow, Verdict(decision, Reason("credentials", f"credential:{name}:{code}", message), status), code
        )

    @guarded("credentials")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Streams (installed by the usage stage before us) are wrapped: scrubbed before the tap reads them
        when they are identity-encoded, after it otherwise (decoded here if the tap passes them as sent)."""
        state, resp = state_of(flow), flow.response
        if state is None or resp is None or state.answered_by_proxy or not resp.stream or not self.vault:
            return
        scrubber = self.vault.scrubber()
        if not scrubber:
            return
        decoder = None
        inner = resp.stream if callable(resp.stream) else None
        plan = state.stream
        tap = plan.tap if plan is not None and inner is plan.tap else None
        encoding = content_encoding(resp).strip().lower()
        compressed = tap.decoder is not None if tap is not None else encoding not in ("", "identity")
        if compressed and (tap is None or plan is None or plan.scanner is None):
            decoder = ContentDecoder(encoding, self.runtime.config.decoded_cap)  # the tap passes it as sent
            for name in ("content-encoding", "content-length"):
                resp.headers.pop(name, None)
        resp.stream = ScrubbedStream(inner, decoder, StreamScrubber(scrubber), first=not compressed)

    @guarded("credentials")
    def response(self, flow: http.HTTPFlow) -> None:
        state, resp = state_of(flow), flow.response
        if state is not None and resp is not None and isinstance(resp.stream, ScrubbedStream):
            if resp.stream.found:
                state.note(scrubbed(resp.stream.found), Decision.REDACT)
