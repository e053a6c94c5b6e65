"""Policy stage: policy packs judge each request (per MCP call in a batch) and each model tool call;
DENY -> 403, TRANSFORM rewrites headers and JSON body, REQUIRE_APPROVAL holds the flow for a person."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import (
    answered,
    body,
    guarded,
    header,
    refuse,
    replace_body,
    state_of,
)
from palaryn_proxy.addons._llm import parse_llm_request
from palaryn_proxy.audit import mask_url
from palaryn_proxy.classify import McpRequest, mcp_request
from palaryn_proxy.classify.mcp import jsonrpc_error
from palaryn_proxy.errors import StorageError
from palaryn_proxy.notify import post_json
from palaryn_proxy.policy import Effect, PolicyContext, PolicyEngine, PolicyResult, apply_transforms
from palaryn_proxy.policy.approvals import Approval, ApprovalBook, new_id
from palaryn_proxy.policy.arguments import arguments_hash
from palaryn_proxy.providers.base import StreamParser
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.serve import reload
from palaryn_proxy.toolguard.modelcalls import model_tool_calls
from palaryn_proxy.types import Decision, FlowState, Kind, Reason, Verdict
from palaryn_proxy.usage.stream import Cut, add_stream_guard

log = logging.getLogger("palaryn")
APPROVAL_HEADER = "X-Palaryn-Approval-Id"
RELOAD_CHECK_SECONDS = 2.0


class PolicyStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        config = runtime.config
        self.base_dir = config.source.parent if config.source else None
        self.engine: PolicyEngine = config.sections.policy  # swapped by serve/reload.py
        self.approvals = ApprovalBook(runtime.storage) if runtime.storage is not None else None
        self._mtimes = self._source_mtimes()
        self._watcher: asyncio.Task[None] | None = None

    def readiness(self) -> tuple[bool, str]:
        """For /readyz: the policy in force (a failed reload keeps the previous one, so this stays ready)."""
        return True, f"policy: {len(self.engine.packs)} pack(s) loaded"

    # ------------------------------------------------------------------ reload

    def running(self) -> None:
        if self.engine.sources:
            self._watcher = asyncio.ensure_future(self._watch())

    def done(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    def _source_mtimes(self) -> dict[Path, float]:
        return {Path(p): Path(p).stat().st_mtime for p in self.engine.sources if Path(p).exists()}

    async def _watch(self) -> None:
        """A changed pack file reloads through the same path as SIGHUP (serve/reload.py)."""
        while True:
            await asyncio.sleep(RELOAD_CHECK_SECONDS)
            if self._source_mtimes() != self._mtimes:
                self._mtimes = self._source_mtimes()
                await reload.reload(self.runtime, "policy")

    # ------------------------------------------------------------------ requests

    @guarded("policy")
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow) or not self.engine.packs:
            return
        got = body(flow.request, state, self.runtime.config.decoded_cap)
        data = got.data
        ctype = header(flow.request, b"content-type")
        ctx = self._context(flow, state)
        state.policy = ctx
        contexts = [ctx]
        mcp = mcp_request(data, ctype) if state.kind is Kind.MCP else None
        if mcp is not None:  # every call in a batch is judged; one denial denies the batch
            contexts = [
                replace(ctx, tool=c.policy_tool, capability=c.capability.value, arguments=c.arguments)
                for c in mcp.calls
            ]
        results = [self.engine.evaluate(c) for c in contexts]
        for result in results:
            for hit in result.reports:
                state.note(hit.to_reason())
        result = _most_restrictive(results)
        if result.effect is Effect.DENY:
            refuse(flow, Verdict(Decision.DENY, result.reason, status=403), "policy_denied")
            _jsonrpc_answer(flow, mcp)
        elif result.effect is Effect.REQUIRE_APPROVAL:
            # Tool calls bind to their exact arguments (the JSON-RPC id changes on every retry); other
            # requests to their whole body (a prefix would match others).
            tool_calls = [(c.tool or "", c.arguments) for c in mcp.tool_calls] if mcp is not None else []
            if tool_calls:
                body_hash = arguments_hash(tool_calls)
            else:
                body_hash = hashlib.sha256(got.raw if got.oversize else data).hexdigest()
            await self.hold(flow, state, result, body_hash)
            _jsonrpc_answer(flow, mcp)
        elif result.effect is Effect.TRANSFORM and result.transforms:
            json_body = None if got.oversize else _json_or_none(data, ctype)  # never rewrite from a prefix
            self._transform(flow, state, result, json_body)

    def _context(self, flow: http.HTTPFlow, state: FlowState) -> PolicyContext:
        """What conditions read (no condition reads headers or the body: they are not copied per request)."""
        req = flow.request
        return PolicyContext(
            method=req.method,
            host=state.host,
            port=req.port,
            path=req.path,
            scheme=req.scheme,
            actor=state.identity.actor,
            workspace=state.identity.workspace,
            task=state.identity.task,
            capability=state.capability.value,
            kind=state.kind.value,
            tool=state.tool or "http.request",
            mcp_server=state.host if state.kind is Kind.MCP else None,
            provider=state.provider,
            model=state.model,
        )

    def _transform(self, flow: http.HTTPFlow, state: FlowState, result: PolicyResult, json_body: Any) -> None:
        headers, new_body = apply_transforms(result.transforms, list(flow.request.headers.items()), json_body)
        flow.request.headers.clear()
        for name, value in headers:
            flow.request.headers.add(name, value)
        if new_body is not json_body and new_body is not None:
            replace_body(flow.request, state, json.dumps(new_body, separators=(",", ":")).encode())
        state.note(
            Reason("policy", result.rule or "transform", f"transformed by {result.pack}/{result.rule}")
        )
        if state.kind is Kind.LLM:
            parse_llm_request(flow, state, self.runtime.config.decoded_cap)  # budgets see the rewrite

    # ------------------------------------------------------------------ approvals

    async def hold(self, flow: http.HTTPFlow, state: FlowState, result: PolicyResult, body_hash: str) -> None:
        """Hold the flow (asynchronously: other flows keep moving) until a person decides or time runs out."""
        spec = result.approval
        hold = float(
            spec.hold_seconds
            if spec and spec.hold_seconds is not None
            else self.runtime.config.approval_hold_seconds
        )
        ttl = float(spec.ttl_seconds if spec else 3600)
        if self.approvals is None and self.runtime.storage is not None:  # opened later (kill switch)
            self.approvals = ApprovalBook(self.runtime.storage)
        if self.approvals is None:
            refuse(
                flow,
                Verdict(
                    Decision.ERROR,
                    Reason("policy", "approvals_unavailable", "approvals need storage"),
                    status=503,
                ),
                "storage_unavailable",
            )
            return
        url = mask_url(flow.request.pretty_url, self.runtime.sensitive_query_keys)
        ident = state.identity
        try:
            if await self.approvals.granted(ident.actor, flow.request.method, url, body_hash):
                state.note(Reason("policy", result.rule or "approval", "approved earlier (within ttl)"))
                return
            approval = Approval(
                id=new_id(),
                status="pending",
                actor=ident.actor,
                workspace=ident.workspace,
                method=flow.request.method,
                url=url,
                host=state.host,
                body_hash=body_hash,
                pack=result.pack,
                rule=result.rule,
                reason=(spec.reason if spec and spec.reason else result.message),
                created=time.time(),
                expires=time.time() + hold,
                grant_ttl_seconds=ttl,
            )
            await self.approvals.open(approval)
            self._notify(approval)
            decided = await self.approvals.wait(approval.id, approval.expires)
        except StorageError as exc:
            refuse(
                flow,
                Verdict(
                    Decision.ERROR,
                    Reason("policy", "approvals_unavailable", f"approval storage unreachable: {exc}"),
                    status=503,
                ),
                "storage_unavailable",
            )
            return
        self._settle_approval(flow, state, approval, decided, ttl)

    def _settle_approval(
        self, flow: http.HTTPFlow, state: FlowState, approval: Approval, decided: Approval | None, ttl: float
    ) -> None:
        headers = {APPROVAL_HEADER: approval.id}
        rule = approval.rule or "approval"
        if decided is not None and decided.status == "approved":
            state.note(Reason("policy", rule, f"approved by {decided.decided_by} ({approval.id})"))
            return
        if decided is not None and decided.status == "denied":
            why = f": {decided.decision_reason}" if decided.decision_reason else ""
            reason = Reason(
                "policy", rule, f"request denied by {decided.decided_by}{why} (approval {approval.id})"
            )
            refuse(flow, Verdict(Decision.DENY, reason, status=403, headers=headers), "approval_denied")
            return
        message = (
            f"this request needs approval ({approval.reason}); a person can run "
            f"`palaryn-proxy approvals approve {approval.id}`, then retry within {ttl:g}s"
        )
        refuse(
            flow,
            Verdict(Decision.APPROVAL_REQUIRED, Reason("policy", rule, message), status=403, headers=headers),
            "approval_required",
        )

    def _notify(self, approval: Approval) -> None:
        url = self.runtime.config.approval_webhook_url
        if url:
            asyncio.ensure_future(post_json(url, {"event": "approval_requested", **approval.describe()}))

    # ------------------------------------------------------------------ model tool calls

    @guarded("policy")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Streams: judge each tool call as the model asks for it; cut before it reaches the client."""
        state = state_of(flow)
        ctx = state.policy if state is not None else None
        if state is None or ctx is None or state.kind is not Kind.LLM or state.answered_by_proxy:
            return
        add_stream_guard(state, self._tool_guard(state, ctx))

    def _tool_guard(self, state: FlowState, ctx: PolicyContext):
        seen = 0
        cut = self.runtime.config.deny_streamed_tool_calls == "cut"

        def guard(parser: StreamParser) -> Cut | None:
            nonlocal seen
            if len(parser.tool_calls) == seen:
                return None
            seen = len(parser.tool_calls)
            result = self.engine.evaluate_model_tools(replace(ctx, model_tools=tuple(parser.tool_calls)))
            if result.effect is not Effect.DENY:
                return None
            state.note(
                Reason(
                    "policy", result.rule or "model_tools", f"model asked for a denied tool: {result.message}"
                )
            )
            if state.llm is not None:
                state.llm.tool_denied = True
            return (
                Cut(
                    f"the model asked to call a denied tool ({result.message})",
                    "tool_denied",
                    before_chunk=True,
                )
                if cut
                else None
            )

        return guard

    @guarded("policy")
    def response(self, flow: http.HTTPFlow) -> None:
        """Non-streamed LLM responses asking for a denied tool are replaced by a provider-native error."""
        state = state_of(flow)
        ctx = state.policy if state is not None else None
        if state is None or ctx is None or not state.model_tools or flow.response is None:
            return
        if flow.response.stream:
            if state.llm is not None and state.llm.tool_denied:
                state.decision = Decision.DENY
            return
        result = self.engine.evaluate_model_tools(replace(ctx, model_tools=tuple(state.model_tools)))
        if result.effect is not Effect.DENY:  # argument rules judge each call with its own arguments
            got = body(flow.response, state, self.runtime.config.decoded_cap)
            for name, args in [] if got.oversize else model_tool_calls(got.data):
                one = self.engine.evaluate_model_tools(replace(ctx, model_tools=(name,), arguments=args))
                if one.effect is Effect.DENY:
                    result = one
                    break
        if result.effect is Effect.DENY:
            reason = Reason(
                "policy",
                result.rule or "model_tools",
                f"the model asked to call a denied tool: {result.message}",
            )
            refuse(flow, Verdict(Decision.DENY, reason, status=403), "tool_denied")


def _jsonrpc_answer(flow: http.HTTPFlow, mcp: McpRequest | None) -> None:
    """An MCP client gets the refusal as a JSON-RPC error (its SDK surfaces it to the agent as one)."""
    if mcp is None or flow.response is None or flow.response.status_code < 400:
        return
    state = state_of(flow)
    message = state.reasons[-1].message if state is not None and state.reasons else "refused by policy"
    flow.response.content = jsonrpc_error(mcp, message)
    flow.response.headers["content-type"] = "application/json"


def _most_restrictive(results: list[PolicyResult]) -> PolicyResult:
    order = {Effect.DENY: 0, Effect.REQUIRE_APPROVAL: 1, Effect.TRANSFORM: 2, Effect.ALLOW: 3}
    return min(results, key=lambda r: order[r.effect])


def _json_or_none(body: bytes, content_type: str) -> Any:
    if not body or "json" not in content_type.lower():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
