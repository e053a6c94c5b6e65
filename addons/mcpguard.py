"""MCP stage: tools/list answers checked against pinned tools, scanned for poisoned descriptions and filtered
per actor (JSON or SSE, event by event); calls to a tool hidden for a change or poisoning refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, body, guarded, header, refuse, state_of, storage_failed
from palaryn_proxy.classify import mcp_request
from palaryn_proxy.classify.mcp import jsonrpc_error
from palaryn_proxy.errors import StorageError
from palaryn_proxy.policy import Effect
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.storage import Storage, open_storage
from palaryn_proxy.toolguard.config import McpGuardConfig
from palaryn_proxy.toolguard.listfilter import STAGE, ListFilter, ListPlan
from palaryn_proxy.toolguard.pins import PinBook
from palaryn_proxy.toolguard.results import ResultScanner
from palaryn_proxy.toolguard.sse import SseRewriter
from palaryn_proxy.types import Decision, FlowState, Kind, Reason, Verdict

PLAN_KEY = "palaryn.mcp_list"
RESULTS_KEY = (
    "palaryn.mcp_results"  # ids of this body's tools/call requests, whose streamed results are scored
)


class McpGuardStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.config: McpGuardConfig = runtime.config.sections.mcp
        self.filter = ListFilter(self.config)
        self.results = ResultScanner(self.config.injection_threshold)
        self._book: PinBook | None = None

    def book(self) -> PinBook:
        """The pins' storage: the proxy's shared one, or opened on the first MCP listing seen."""
        if self._book is None:
            storage: Storage | None = self.runtime.storage
            if storage is None:
                cfg = self.runtime.storage_config
                storage = self.runtime.storage = open_storage(cfg.url, key_prefix=cfg.key_prefix)
            self._book = PinBook(storage)
        return self._book

    @guarded(STAGE)
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow) or state.kind is not Kind.MCP:
            return
        got = body(flow.request, state, self.runtime.config.decoded_cap)
        mcp = mcp_request(got.data, header(flow.request, b"content-type"))
        if mcp is None:
            return
        port = flow.request.port
        host = state.host if port in (80, 443) else f"{state.host}:{port}"  # two servers on one host differ
        server = host + flow.request.path.split("?", 1)[0]
        lists = frozenset(c.id for c in mcp.calls if c.method == "tools/list" and c.id is not None)
        calls = [c.tool for c in mcp.tool_calls if c.tool]
        if not lists and not calls:
            return
        call_ids = frozenset(c.id for c in mcp.tool_calls if c.id is not None)
        if call_ids:
            flow.metadata[RESULTS_KEY] = call_ids
        if not lists and self.config.on_change != "hide":
            return  # only a hidden (unaccepted) tool refuses calls: no pins to read
        try:
            first, pins = await self.book().load(server)
        except StorageError as exc:
            storage_failed(self.runtime, flow, STAGE, "MCP tool pins", exc)
            return
        for name in calls:
            pin = pins.get(name)
            if pin is not None and pin.pending is not None and self.config.on_change == "hide":
                message = (
                    f"tool {name!r} of {server} changed or is new and is hidden until a person accepts it "
                    f"(`palaryn-proxy mcp accept {server} {name}`)"
                )
                refuse(
                    flow, Verdict(Decision.DENY, Reason(STAGE, "mcp_tool_unaccepted", message), 403), "mcp"
                )
                if flow.response is not None:
                    flow.response.content = jsonrpc_error(mcp, message)
                return
        if lists:
            flow.metadata[PLAN_KEY] = ListPlan(server, lists, first, pins, self._denied(state))

    def _denied(self, state: FlowState) -> Callable[[str], bool]:
        policy = self.runtime.stages.get("policy")
        ctx = state.policy
        if not self.config.hide_denied or policy is None or ctx is None:
            return lambda name: False

        def denied(name: str) -> bool:
            one = replace(ctx, tool=name, capability="write", arguments=None)
            return bool(policy.engine.evaluate(one).effect is Effect.DENY)

        return denied

    @guarded(STAGE)
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        plan: ListPlan | None = flow.metadata.get(PLAN_KEY)
        call_ids: frozenset[object] = flow.metadata.get(RESULTS_KEY) or frozenset()
        resp = flow.response
        if (
            (plan is None and not call_ids)
            or resp is None
            or "event-stream" not in header(resp, b"content-type")
        ):
            return
        encoding = header(resp, b"content-encoding").strip().lower()
        if encoding not in ("", "identity"):
            state = state_of(flow)
            if state is not None:
                state.note(Reason(STAGE, "mcp_unread", f"compressed ({encoding}) tool list not checked"))
            return
        state = state_of(flow)

        def on_message(message: object) -> object:
            if call_ids and state is not None and (found := self.results.scan(message, call_ids)) is not None:
                state.note(found)
            return self.filter.rewrite(plan, message) if plan is not None else message

        inner = resp.stream if callable(resp.stream) else None
        resp.stream = SseRewriter(inner, on_message)

    @guarded(STAGE)
    async def response(self, flow: http.HTTPFlow) -> None:
        plan: ListPlan | None = flow.metadata.pop(PLAN_KEY, None)
        state, resp = state_of(flow), flow.response
        if plan is None or state is None or resp is None:
            return
        if not resp.stream and "json" in header(resp, b"content-type"):
            self._rewrite_json(flow, plan)
        for reason in plan.reasons:
            state.note(reason)
        if plan.blocked:
            state.decision = Decision.DENY
        if plan.writes:
            try:
                await self.book().save(plan.server, plan.writes)
            except StorageError as exc:
                state.note(Reason(STAGE, "mcp_unpinned", f"tool pins not saved: {exc}"))

    def _rewrite_json(self, flow: http.HTTPFlow, plan: ListPlan) -> None:
        assert flow.response is not None
        try:
            message = json.loads(flow.response.get_content(strict=False) or b"")
        except ValueError:
            return
        batch = message if isinstance(message, list) else [message]
        out = [self.filter.rewrite(plan, m) for m in batch]
        if any(a is not b for a, b in zip(out, batch, strict=True)):
            new = out if isinstance(message, list) else out[0]
            flow.response.content = json.dumps(new, separators=(",", ":")).encode()
