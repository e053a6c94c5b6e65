"""Every configuration key, declared once: name, type, typed default, one help sentence, env override."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SENSITIVE_QUERY_KEYS = (
    "key",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "code",
    "auth",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-credential",
    "x-goog-signature",
    "sv",
    "se",
)


@dataclass(frozen=True, slots=True)
class Key:
    """One declared configuration key."""

    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    env: bool = False  # PALARYN_<NAME> overrides the file


def _hostport(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT, for example 127.0.0.1:8080")
    return value


KEYS: tuple[Key, ...] = (
    Key("listen", str, "127.0.0.1:8080", "HOST:PORT of the proxy listener.", env=True),
    Key(
        "mode",
        list,
        ["regular"],
        "mitmproxy modes: regular, transparent, socks5, or MODE@HOST:PORT.",
        env=True,
    ),
    Key("certs_dir", str, "./certs", "Where the proxy CA lives (created on first use).", env=True),
    Key("audit_log", str, "./audit.jsonl", "The JSONL audit log (hash-chained).", env=True),
    Key("audit_max_bytes", int, 100 * 1024 * 1024, "Rotate the audit log when it grows past this size."),
    Key(
        "audit_fsync", bool, False, "fsync the audit log after every batch of records (same as audit.fsync)."
    ),
    Key(
        "audit",
        dict,
        {},
        "Audit durability: {durability: batched | acknowledged, fsync: false}.",
    ),
    Key(
        "client_timeouts",
        dict,
        {},
        "Deadlines for slow clients, answered 408: {header_seconds: 30, body_seconds: 120}.",
    ),
    Key(
        "max_decoded_bytes",
        (int, type(None)),
        None,
        "Cap on a body's decoded size (all content encodings); null: 4 x dlp.max_scan_bytes.",
    ),
    Key(
        "metrics_listen",
        str,
        "127.0.0.1:9464",
        "HOST:PORT of /metrics and /healthz; 'off' disables.",
        env=True,
    ),
    Key(
        "admin_listen",
        (str, type(None)),
        None,
        "HOST:PORT of the admin API and console; null: the metrics listener's address; 'off' disables.",
        env=True,
    ),
    Key("admin", dict, {}, "Console access: {tokens: [{token: 'sha256:...', role: viewer|approver}]}."),
    Key(
        "events",
        dict,
        {},
        "The console's event store: {url: sqlite:///PATH | postgresql://..., retention_days: 30}.",
    ),
    Key(
        "metrics_actor_labels", bool, False, "Add actor/workspace labels to metrics (unbounded cardinality)."
    ),
    Key("log_level", str, "warning", "Proxy log level: debug, info, warning, error.", env=True),
    Key("log_format", str, "text", "Log lines on stderr: text, or json (one object per line).", env=True),
    Key(
        "upstream_ca_bundle",
        (str, type(None)),
        None,
        "PEM file of extra CAs trusted for upstreams.",
        env=True,
    ),
    Key("upstream_verify", bool, True, "Verify upstream TLS certificates (never turn off in production)."),
    Key("upstream_timeout", (int, float), 300, "Seconds to connect upstream and get the response headers."),
    Key(
        "resolve_overrides", dict, {}, "Pin hosts to addresses, like curl --resolve: {HOST[:PORT]: IP:PORT}."
    ),
    Key("drain_timeout", (int, float), 30, "Seconds in-flight flows may take to finish on SIGTERM."),
    Key("passthrough_hosts", list, [], "Host globs tunnelled without interception (pinned clients)."),
    Key("block_domains", list, [], "Host globs refused with 403 (a minimal policy before policy packs)."),
    Key(
        "mask_query_keys",
        list,
        list(SENSITIVE_QUERY_KEYS),
        "Query keys whose values are masked in audit URLs.",
    ),
    Key("fail_open", dict, {}, "Per-stage switch: {stage: true} lets flows through when that stage fails."),
    Key("identity", dict, {}, "Actors, proxy-auth tokens, client-address map and defaults."),
    Key("providers", dict, {}, "Extra hosts per LLM adapter: {adapter: {hosts: [HOST[:PORT], ...]}}."),
    Key("pricing", dict, {}, "Price overrides: {overrides: {model: {input_per_mtok, ...}}}."),
    Key(
        "force_stream_usage",
        bool,
        False,
        "Add stream_options.include_usage to OpenAI-style streaming requests.",
    ),
    Key(
        "storage",
        dict,
        {},
        "Budget/rate-limit/approval storage: {url: sqlite:///..., key_prefix}.",
    ),
    Key(
        "fail_mode",
        str,
        "closed",
        "When storage is unreachable: closed (refuse LLM calls) or open (let them pass).",
    ),
    Key("budgets", list, [], "Spend limits per scope and period."),
    Key("timezone", str, "UTC", "IANA time zone that calendar budget periods and working hours follow."),
    Key(
        "budget_reservation_ttl_seconds",
        (int, float),
        900,
        "A reservation never settled (a replica died) expires.",
    ),
    Key(
        "per_request_max_usd",
        (int, float, str, type(None)),
        None,
        "Refuse any single LLM call above this cost.",
    ),
    Key("rate_limits", list, [], "Request rate limits per scope."),
    Key("dlp", dict, {}, "Secret and PII scanning."),
    Key("injection", dict, {}, "Prompt-injection scanning of what flows back: {action: log|flag|block}."),
    Key(
        "policy_packs",
        list,
        [],
        "Policy pack files or shipped pack names (default, dev_fast, prod_strict, llm_only).",
    ),
    Key(
        "approval_hold_seconds", (int, float), 60, "How long a REQUIRE_APPROVAL flow is held for a decision."
    ),
    Key("approval_webhook_url", (str, type(None)), None, "POSTed a JSON description of each new approval."),
    Key(
        "deny_streamed_tool_calls", str, "cut", "A denied model tool call in a stream: cut (end it) or flag."
    ),
    Key("destination_binding", bool, True, "Deny requests whose Host/SNI differs from their CONNECT target."),
    Key("ssrf", dict, {}, "SSRF guard: {enabled: true, allow: [CIDR or host glob], deny: [...]}."),
    Key("anomaly", dict, {}, "Anomaly detection."),
    Key("mcp", dict, {}, "MCP tool security: {on_change, poisoned: log|flag|block|hide, hide_denied}."),
    Key(
        "flow_guard",
        dict,
        {},
        "Lethal-trifecta guard: {window_seconds, private_hosts, trusted_hosts, action}.",
    ),
    Key(
        "otel",
        dict,
        {},
        "OpenTelemetry export: {enabled: true}; endpoint and service name from the OTEL_* environment.",
    ),
    Key(
        "credentials",
        list,
        [],
        "Credential vault: [{name, hosts, header | query | basic | aws_sigv4, value_from, actors, env}].",
    ),
    Key(
        "credentials_required",
        (bool, list),
        False,
        "Refuse requests to bound hosts without the placeholder: true, or a list of host globs.",
    ),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}
STAGES = (
    "identity",
    "classify",
    "blocklist",
    "upstream",
    "usage",
    "budget",
    "ratelimit",
    "dlp",
    "policy",
    "mcp",
    "kill",
    "flow_guard",
    "ssrf",
    "anomaly",
    "credentials",
    "audit",
)
CHOICES = {  # keys whose value is one of a few words
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("text", "json"),
    "fail_mode": ("open", "closed"),
    "deny_streamed_tool_calls": ("cut", "flag"),
}
DEFAULT_FAIL_OPEN = {"usage": True, "anomaly": True}
DEFAULT_MAX_SCAN_BYTES = 4 << 20  # dlp.max_scan_bytes (declared with the dlp section)
