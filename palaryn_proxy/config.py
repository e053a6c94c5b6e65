"""The one place every configuration key is declared, typed, defaulted, documented and validated.

Precedence, lowest first: declared default < YAML file < PALARYN_<KEY> environment variable < CLI flag.
Sections owned by pipeline stages (budgets, dlp, policy, ...) are declared here as mappings or lists and
parsed once by their stage's own parser (palaryn_proxy/sections.py) into `Config.sections`, the typed values
the stages are handed; so `config check` sees every error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from palaryn_proxy.audit.options import AuditOptions, parse_audit_options
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.identity import IdentityConfig, parse_identity

if TYPE_CHECKING:
    from palaryn_proxy.sections import Sections

DEFAULT_CONFIG_FILE = "palaryn.yaml"

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


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    header_seconds: float = (
        30.0  # from the connection's first byte (or the previous request) to the headers' end
    )
    body_seconds: float = 120.0  # from the end of the headers to the end of the request body


@dataclass(frozen=True)
class Config:
    """The validated configuration; `values` holds every declared key, sections stay plain data."""

    values: dict[str, Any]
    source: Path | None = None
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    audit_options: AuditOptions = field(default_factory=AuditOptions)
    client_timeout: ClientTimeouts = field(default_factory=ClientTimeouts)
    sections: Sections = field(default=None)  # type: ignore[assignment]  # set by load_config, always

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def listen_host(self) -> str:
        return self.values["listen"].rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.values["listen"].rpartition(":")[2])

    def stage_fails_open(self, stage: str) -> bool:
        return bool(self.values["fail_open"].get(stage, DEFAULT_FAIL_OPEN.get(stage, False)))

    @property
    def decoded_cap(self) -> int:
        """The most bytes any body may decode to (`max_decoded_bytes`, else 4 x dlp.max_scan_bytes)."""
        explicit = self.values["max_decoded_bytes"]
        if explicit is not None:
            return int(explicit)
        return 4 * int(self.values["dlp"].get("max_scan_bytes", DEFAULT_MAX_SCAN_BYTES))

    @property
    def ca_cert_file(self) -> Path:
        return Path(self.values["certs_dir"]) / "mitmproxy-ca-cert.pem"


def _key_lines(text: str) -> dict[str, int]:
    """Map top-level and second-level key paths to 1-based line numbers, for error messages."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for knode, vnode in root.value:
        lines[str(knode.value)] = knode.start_mark.line + 1
        if isinstance(vnode, yaml.MappingNode):
            for k2, _ in vnode.value:
                lines[f"{knode.value}.{k2.value}"] = k2.start_mark.line + 1
    return lines


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }
    return " or ".join(names.get(x, x.__name__) for x in types)


def _check_type(key: Key, value: Any, where: str) -> Any:
    expected = key.type if isinstance(key.type, tuple) else (key.type,)
    if key.name == "mode" and isinstance(value, str):
        value = [value]
    ok = isinstance(value, expected) and not (isinstance(value, bool) and bool not in expected)
    if not ok:
        raise ConfigError(
            f"{where}: `{key.name}` must be {_type_name(key.type)}, got {type(value).__name__} "
            f"{value!r:.60}. {key.help}"
        )
    return value


def _env_value(key: Key, raw: str) -> Any:
    if key.type is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if key.type is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if raw.strip().lower() in ("", "null", "none") and isinstance(key.type, tuple) and type(None) in key.type:
        return None
    return raw


def _validate_listeners(values: dict[str, Any], where: Callable[[str], str]) -> None:
    """`listen` is HOST:PORT; `metrics_listen` and `admin_listen` are HOST:PORT or off."""
    for name in ("listen", "metrics_listen", "admin_listen"):
        value = values[name]
        if name != "listen" and value in (None, "off", ""):
            continue
        try:
            _hostport(value)
        except ValueError as exc:
            also = "" if name == "listen" else ", or 'off'"
            raise ConfigError(f"{where(name)}: `{name}`: {exc}{also}") from None


def _validate_values(values: dict[str, Any], where: Callable[[str], str]) -> None:
    _validate_listeners(values, where)
    for name, allowed in CHOICES.items():
        if name in values and str(values[name]).lower() not in allowed:
            raise ConfigError(f"{where(name)}: `{name}` must be one of {', '.join(allowed)}")
    for stage in values["fail_open"]:
        if stage not in STAGES:
            raise ConfigError(
                f"{where('fail_open')}: `fail_open.{stage}` is not a stage; stages are {', '.join(STAGES)}"
            )
    for name in ("passthrough_hosts", "block_domains", "mask_query_keys", "mode"):
        for item in values[name]:
            if not isinstance(item, str) or not item:
                raise ConfigError(f"{where(name)}: every item of `{name}` must be a non-empty string")
    _validate_limits(values, where)
    for host, target in values["resolve_overrides"].items():
        try:
            _hostport(str(target))
        except ValueError:
            raise ConfigError(
                f"{where('resolve_overrides')}: `resolve_overrides.{host}` must be IP:PORT, got {target!r}"
            ) from None


def _validate_limits(values: dict[str, Any], where: Callable[[str], str]) -> None:
    if values["max_decoded_bytes"] is not None and values["max_decoded_bytes"] < 1024:
        raise ConfigError(
            f"{where('max_decoded_bytes')}: `max_decoded_bytes` must be at least 1024 bytes, or null "
            "for 4 x dlp.max_scan_bytes"
        )
    if values["upstream_timeout"] <= 0:
        raise ConfigError(
            f"{where('upstream_timeout')}: `upstream_timeout` must be a positive number of seconds"
        )


def _known(section: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for k in raw:
        if k not in known:
            raise ConfigError(f"`{section}.{k}` is not a known key; known keys: {', '.join(known)}")


def parse_client_timeouts(raw: Mapping[str, Any]) -> ClientTimeouts:
    """Validate the `client_timeouts` section: positive seconds."""
    _known("client_timeouts", raw, ("header_seconds", "body_seconds"))
    d = ClientTimeouts()
    out = {}
    for name in ("header_seconds", "body_seconds"):
        value = raw.get(name, getattr(d, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"`client_timeouts.{name}` must be a positive number of seconds, got {value!r}")
        out[name] = float(value)
    return ClientTimeouts(**out)


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load, merge and validate: defaults < file < environment < overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {k.name: _copy(k.default) for k in KEYS}
    lines: dict[str, int] = {}
    source: Path | None = None
    if path is None and environ.get("PALARYN_CONFIG"):
        path = environ["PALARYN_CONFIG"]
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        source = Path(path)
        values.update(_read_file(source, lines))

    def where(name: str) -> str:
        line = lines.get(name)
        return f"{source}:{line}" if source and line else (str(source) if source else "config")

    for key in KEYS:
        env_name = "PALARYN_" + key.name.upper()
        if key.env and env_name in environ:
            values[key.name] = _env_value(key, environ[env_name])
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    for key in KEYS:
        values[key.name] = _check_type(key, values[key.name], where(key.name))
    _validate_values(values, where)
    try:
        identity = parse_identity(values["identity"])
    except ConfigError as exc:
        raise ConfigError(f"{where('identity')}: {exc}") from None
    try:
        audit_options = parse_audit_options(values["audit"], values["audit_fsync"])
    except ConfigError as exc:
        raise ConfigError(f"{where('audit')}: {exc}") from None
    try:
        client_timeout = parse_client_timeouts(values["client_timeouts"])
    except ConfigError as exc:
        raise ConfigError(f"{where('client_timeouts')}: {exc}") from None
    from palaryn_proxy import sections  # the stages' own parsers (imported late: they are many)

    return Config(
        values=values,
        source=source,
        identity=identity,
        audit_options=audit_options,
        client_timeout=client_timeout,
        sections=sections.parse(values, source.parent if source else None),
    )


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def _read_file(source: Path, lines: dict[str, int]) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    lines.update(_key_lines(text))
    for name in data:
        if name not in KEYS_BY_NAME:
            near = [k for k in KEYS_BY_NAME if k.split("_")[0] == str(name).split("_")[0]]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{source}:{lines.get(str(name), '?')}: unknown key `{name}`{hint}; "
                "see the config reference in README.md"
            )
    return data
