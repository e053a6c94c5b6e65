"""Loading and validating the configuration; every key is declared once, typed and documented, in keys.py.

Precedence, lowest first: declared default < YAML file < PALARYN_<KEY> environment variable < CLI flag.
Sections owned by pipeline stages (budgets, dlp, policy, ...) are declared there as mappings or lists and
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
from palaryn_proxy.config.keys import (  # noqa: F401 - the declarations, re-exported for callers
    CHOICES,
    DEFAULT_FAIL_OPEN,
    DEFAULT_MAX_SCAN_BYTES,
    KEYS,
    KEYS_BY_NAME,
    SENSITIVE_QUERY_KEYS,
    STAGES,
    Key,
    _hostport,
)
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.identity import IdentityConfig, parse_identity

if TYPE_CHECKING:
    from palaryn_proxy.sections import Sections

DEFAULT_CONFIG_FILE = "palaryn.yaml"


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
