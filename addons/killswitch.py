"""Kill stage: refuse every request of a killed actor, workspace or everything (403, reason `killed`) and end
its open streams at the next event boundary; kills come from the shared storage, polled twice a second."""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import ctx, http

from palaryn_proxy.addons._flow import answered, guarded, header, refuse, state_of
from palaryn_proxy.errors import StorageError
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.storage import open_storage
from palaryn_proxy.toolguard.killcut import KillCut
from palaryn_proxy.toolguard.kills import Kill, KillBook, covering
from palaryn_proxy.types import Decision, FlowState, Reason, Verdict

log = logging.getLogger("palaryn")
STAGE = "kill"
POLL_SECONDS = 0.5


class KillStage:
    """Early in the pipeline: refuses requests. Its `cutter` sits after the stages that install streams."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.kills: list[Kill] = []
        self._book: KillBook | None = None
        self._poller: asyncio.Task[None] | None = None
        self.cutter = KillStreamStage(self)

    def running(self) -> None:
        storage = self.runtime.storage
        if storage is None:
            cfg = self.runtime.storage_config
            storage = self.runtime.storage = open_storage(cfg.url, key_prefix=cfg.key_prefix)
        self._book = KillBook(storage)
        self._poller = asyncio.ensure_future(self._poll())

    def done(self) -> None:
        if self._poller is not None:
            self._poller.cancel()

    async def _poll(self) -> None:
        assert self._book is not None
        while True:
            try:
                self.kills = await self._book.all()
            except StorageError as exc:  # keep the last known kills: a storage blip must not lift them
                log.warning("kill switch: storage unreachable: %s", exc)
            await asyncio.sleep(POLL_SECONDS)

    def covering(self, state: FlowState) -> Kill | None:
        return covering(self.kills, state.identity.actor, state.identity.workspace) if self.kills else None

    @guarded(STAGE)
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._check(flow)

    @guarded(STAGE)
    def request(self, flow: http.HTTPFlow) -> None:
        self._check(flow)

    def _check(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow):
            return
        kill = self.covering(state)
        if kill is not None:
            refuse(flow, Verdict(Decision.DENY, Reason(STAGE, "killed", kill.message()), 403), "killed")


class KillStreamStage:
    """Wraps response streams (after the usage, DLP and MCP stages install theirs) so a kill cuts them."""

    def __init__(self, stage: KillStage):
        self.stage = stage
        self.runtime = stage.runtime

    @guarded(STAGE)
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state, resp = state_of(flow), flow.response
        if state is None or resp is None or state.answered_by_proxy:
            return
        ctype = header(resp, b"content-type").lower()
        shape = (
            "sse"
            if "event-stream" in ctype
            else "ndjson"
            if ("ndjson" in ctype or "jsonl" in ctype)
            else None
        )
        encoding = header(resp, b"content-encoding").strip().lower()
        if shape is None or encoding not in ("", "identity"):
            return

        def killed() -> str | None:
            kill = self.stage.covering(state)
            return kill.message() if kill is not None else None

        def on_cut(message: str) -> None:
            state.refuse(Verdict(Decision.DENY, Reason(STAGE, "killed", f"stream cut: {message}"), 403))
            asyncio.get_running_loop().call_soon(_close_upstream, flow, message)  # after the error event

        inner = resp.stream if callable(resp.stream) else None
        resp.stream = KillCut(inner, shape, killed, on_cut)


def _close_upstream(flow: http.HTTPFlow, why: str) -> None:
    """End the upstream connection; mitmproxy then closes the client's side (a flow in transit cannot be
    killed: mitmproxy issue 4711). The same move as the credential guard's and the upstream deadline's."""
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = proxyserver.connections.get(flow.client_conn.id) if proxyserver else None
    transport = handler.transports.get(flow.server_conn) if handler is not None else None
    if transport is not None and transport.handler is not None:
        transport.handler.cancel(why)
    elif flow.killable:
        flow.kill()
