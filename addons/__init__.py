"""mitmproxy addons of palaryn-proxy (installed as palaryn_proxy.addons): one thin stage per file.

`pipeline(runtime)` lists the stages in the order mitmproxy calls them for every hook.
"""

from __future__ import annotations

from typing import Any

from palaryn_proxy.runtime import Runtime


def pipeline(runtime: Runtime) -> list[Any]:
    """The stages, in order. Each hook runs through this list top to bottom."""
    from palaryn_proxy.addons._clientguard import ClientGuard
    from palaryn_proxy.addons.anomaly import AnomalyStage
    from palaryn_proxy.addons.audit import AuditStage
    from palaryn_proxy.addons.blocklist import BlocklistStage
    from palaryn_proxy.addons.budget import BudgetStage
    from palaryn_proxy.addons.classify import ClassifyStage
    from palaryn_proxy.addons.credentials import CredentialStage
    from palaryn_proxy.addons.credentials_guard import CredentialGuardStage
    from palaryn_proxy.addons.dlp import DlpStage
    from palaryn_proxy.addons.flowguard import FlowGuardStage
    from palaryn_proxy.addons.identity import IdentityStage
    from palaryn_proxy.addons.killswitch import KillStage
    from palaryn_proxy.addons.mcpguard import McpGuardStage
    from palaryn_proxy.addons.policy import PolicyStage
    from palaryn_proxy.addons.ratelimit import RateLimitStage
    from palaryn_proxy.addons.ssrf import SsrfStage
    from palaryn_proxy.addons.tlswatch import TlsWatchStage
    from palaryn_proxy.addons.upstream import UpstreamStage
    from palaryn_proxy.addons.usage import UsageStage
    from palaryn_proxy.credentials.vault import Vault
    from palaryn_proxy.usage import LlmAccountant

    audit = AuditStage(runtime)
    accountant = LlmAccountant(runtime.config, runtime.metrics)
    runtime.registry = accountant.registry
    policy = PolicyStage(runtime)
    rate = RateLimitStage(runtime, accountant)
    vault = Vault(runtime.config.sections.credentials, runtime.config.certs_dir)
    vault.start()  # every value resolves, or the proxy does not start
    kill = KillStage(runtime)
    client_guard = ClientGuard(runtime)  # not a stage: the HTTP guard's recorder (see serve/server.py)
    runtime.stages.update(
        audit=audit, policy=policy, ratelimit=rate, client_guard=client_guard, credentials=vault
    )
    # fmt: off
    return [
        IdentityStage(runtime),               # who: 407, actor / workspace / task / tags, request id
        kill,                                 # killed actor / workspace / all -> 403 (shared storage)
        ClassifyStage(runtime),               # llm / mcp / http, provider adapter, tool
        BlocklistStage(runtime),              # block_domains -> 403
        CredentialGuardStage(runtime, vault), # misplaced placeholders -> 403; real values scrubbed from answers
        UsageStage(runtime, accountant),      # parse LLM requests; tap streams; settle usage and cost
        policy,                               # packs -> 403 / transform / held for approval; model tool calls
        McpGuardStage(runtime),               # MCP tool lists: pinned, poison-scanned, filtered per actor
        kill.cutter,                          # open streams of a killed scope end at the next event
        DlpStage(runtime),                    # secrets / PII: log, redact, 403; prompt injection flagged
        FlowGuardStage(runtime),              # private in + untrusted in, then data out -> flow_guard.action
        SsrfStage(runtime),                   # one destination per request; resolved address checked, then dialled
        rate,                                 # requests / tokens per minute -> 429
        AnomalyStage(runtime),                # rolling baselines per actor / tool / workspace -> log, flag, 429
        BudgetStage(runtime, accountant),     # reserve worst case -> 402; cut overspending streams; settle
        CredentialStage(runtime, vault),      # placeholders -> real values (last); streams scrubbed
        UpstreamStage(runtime),               # upstream deadline, HTTP/2 preference (last request-phase stage)
        audit,                                # request id header, one audit record per flow, metrics
        TlsWatchStage(runtime),               # client-refused TLS handshakes -> /tls-failures, doctor
    ]
    # fmt: on
