"""DLP and prompt-injection settings, parsed once from the `dlp` and `injection` config sections."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .binding import Binding, builtin_bindings, parse_bindings
from .detector import PII, SECRETS
from .injection_model import Classifier, ModelError, find_files, load_classifier
from .registry import DEFAULT_OFF, GROUPS

DIRECTIONS = ("request", "response")


class Action(enum.StrEnum):
    LOG = "log"
    REDACT = "redact"
    BLOCK = "block"
    OFF = "off"  # detector disabled (only in `dlp.actions`)


class InjectionAction(enum.StrEnum):
    LOG = "log"
    FLAG = "flag"
    BLOCK = "block"
    OFF = "off"


class Oversize(enum.StrEnum):
    """What happens to a body larger than `dlp.max_scan_bytes`."""

    SCAN_PREFIX = "scan_prefix"  # scan the first max_scan_bytes, pass, and flag the flow
    BLOCK = "block"  # refuse the flow
    PASS = "pass"  # pass unscanned and flag the flow


class OnTimeout(enum.StrEnum):
    """What happens to a flow whose scan runs past `dlp.scan_timeout_seconds`."""

    BLOCK = "block"  # refuse it (403): nothing unscanned gets through
    PASS = "pass"  # let it through unscanned, flagged with a `dlp/scan_timeout` reason


GROUP_DEFAULTS: Mapping[str, Action] = MappingProxyType({SECRETS: Action.REDACT, PII: Action.LOG})


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    base64: bool = True
    base64_min_length: int = 24
    base64_max_depth: int = 2
    base64_max_bytes: int = 1 << 20  # decoded bytes per scan
    json_max_depth: int = 2  # JSON documents held in JSON strings (tool-call arguments)
    # Decoding layers (layers.py): each reads a text another way and scans that reading too.
    hex: bool = True  # `6768705f...`, `67 68 70`, `0x67, 0x68` whose bytes are text
    hex_min_length: int = 32  # hex digits in a row (16 bytes)
    entities: bool = True  # HTML character references: `&#103;`, `&#x68;`, `&lowbar;`
    escapes: bool = True  # `\u0067`, `\x67`, `\147`, `\u{67}`, escaped again or not
    percent: bool = True  # %-encoding in any text (twice in queries and forms: `%255F`)
    joins: bool = True  # `"abc" + "def"`, `("abc"\n "def")`, backslash line continuations, wrapped lines
    spaced: bool = True  # `g h p _ ...`, `g-h-p`, `g.h.p`, one character per line
    spaced_min_chars: int = 16  # characters of a spaced-out run
    compressed: bool = True  # gzip / zlib / deflate / zstd data inside base64 or hex
    wide: bool = True  # UTF-16 / UTF-32 inside base64 or hex, and NUL-interleaved text
    layers_max_depth: int = 2  # rounds of layers over what layers decoded (0: layers off)
    layers_max_chars: int = 2 << 20  # characters of decoded readings per message part
    layers_max_runs: int = 8192  # encoded runs read per text and layer


@dataclass(frozen=True, slots=True)
class InjectionConfig:
    action: InjectionAction = InjectionAction.FLAG
    threshold: float = 0.5
    max_scan_bytes: int = 1 << 20
    scan_requests: bool = True  # tool results inside LLM requests
    # An optional local ONNX classifier (the [ml] extra); see injection_model.py for how it is read.
    model: str | None = None  # a .onnx file (tokenizer.json beside it) or a directory holding model.onnx
    model_label: str | int | None = None  # the injection label (name or index); None: by name, else the last
    model_max_tokens: int = 512  # tokens per window
    model_max_windows: int = 8  # windows per text (the first max-1 and the last); the highest counts
    model_weight: float | None = None  # None: max(built-in, model); w: (1 - w) * built-in + w * model
    model_queue: int = 64  # checks waiting or running; past it the built-in score stands alone
    model_timeout_seconds: float = 2.0  # waiting included; past it the built-in score stands alone
    model_threads: int = 2  # inference threads, each running the model single-threaded
    classifier: Classifier | None = field(default=None, compare=False, repr=False)  # loaded from `model`


@dataclass(frozen=True, slots=True)
class DlpConfig:
    enabled: bool = True
    default_action: Action | None = None
    actions: Mapping[str, Mapping[str, Action]] = field(default_factory=lambda: MappingProxyType({}))
    max_scan_bytes: int = 4 << 20
    oversize: Oversize = Oversize.SCAN_PREFIX
    scan_timeout_seconds: float = 15.0  # a buffered body's scan runs off the event loop up to this long
    on_timeout: OnTimeout = OnTimeout.BLOCK
    stream_overlap: int = 256
    clean_cache_chars: int = 8_000_000  # request text remembered as scanned clean (see cleancache.py); 0: off
    bindings: tuple[Binding, ...] = field(default_factory=builtin_bindings)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    injection: InjectionConfig = field(default_factory=InjectionConfig)
    hash_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_mapping(
        cls, dlp: Mapping[str, Any] | None, injection: Mapping[str, Any] | None = None
    ) -> DlpConfig:
        """Parse the `dlp` section (and the top-level `injection` section); raise ConfigError naming the key."""
        return parse_config(dlp or {}, injection or {})

    def action_for(self, type_: str, direction: str) -> Action:
        """type+direction > type > group+direction > group > default_action > built-in group default."""
        group = GROUPS[type_]
        for name in (type_, group):
            per = self.actions.get(name)
            if per is not None:
                if direction in per:
                    return per[direction]
                if "*" in per:
                    return per["*"]
            if name == type_ and type_ in DEFAULT_OFF:
                return Action.OFF
        return self.default_action or GROUP_DEFAULTS[group]


def _keys(section: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{section}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in known:
            raise ConfigError(f"{section}.{key}: unknown key; known keys are {', '.join(known)}")


def _enum[E: enum.StrEnum](key: str, value: Any, kind: type[E], allowed: tuple[E, ...] | None = None) -> E:
    choices = allowed or tuple(kind)
    if value not in [c.value for c in choices]:
        raise ConfigError(f"{key}: {value!r} is not valid; use one of {', '.join(c.value for c in choices)}")
    return kind(value)


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _actions(raw: Any) -> Mapping[str, Mapping[str, Action]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "dlp.actions: expected a mapping of detector type or group (secrets, pii) to an action"
        )
    out: dict[str, Mapping[str, Action]] = {}
    for name, spec in raw.items():
        key = f"dlp.actions.{name}"
        if name not in GROUPS and name not in (SECRETS, PII):
            known = ", ".join([SECRETS, PII, *sorted(GROUPS)])
            raise ConfigError(f"{key}: unknown detector type or group; use one of {known}")
        if isinstance(spec, Mapping):
            _keys(key, spec, DIRECTIONS)
            out[name] = MappingProxyType({d: _enum(f"{key}.{d}", a, Action) for d, a in spec.items()})
        else:
            out[name] = MappingProxyType({"*": _enum(key, spec, Action)})
    return MappingProxyType(out)


_DECODE_MINIMUMS = {  # integer keys of dlp.decode and their least values
    "base64_min_length": 8, "base64_max_depth": 0, "base64_max_bytes": 0, "json_max_depth": 0,
    "hex_min_length": 32, "spaced_min_chars": 8, "layers_max_depth": 0, "layers_max_chars": 0,
    "layers_max_runs": 1,
}  # fmt: skip


def _decode(raw: Mapping[str, Any]) -> DecodeConfig:
    _keys("dlp.decode", raw, tuple(DecodeConfig.__dataclass_fields__))
    d = DecodeConfig()
    values: dict[str, Any] = {}
    for name in DecodeConfig.__dataclass_fields__:
        value = raw.get(name, getattr(d, name))
        key = f"dlp.decode.{name}"
        minimum = _DECODE_MINIMUMS.get(name)
        values[name] = _bool(key, value) if minimum is None else _int(key, value, minimum)
    return DecodeConfig(**values)


def _injection(raw: Mapping[str, Any]) -> InjectionConfig:
    _keys("injection", raw, tuple(k for k in InjectionConfig.__dataclass_fields__ if k != "classifier"))
    d = InjectionConfig()
    threshold = raw.get("threshold", d.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ConfigError(f"injection.threshold: expected a number in (0, 1], got {threshold!r}")
    cfg = InjectionConfig(
        action=_enum("injection.action", raw.get("action", d.action.value), InjectionAction),
        threshold=float(threshold),
        max_scan_bytes=_int("injection.max_scan_bytes", raw.get("max_scan_bytes", d.max_scan_bytes), 1),
        scan_requests=_bool("injection.scan_requests", raw.get("scan_requests", d.scan_requests)),
        **_model_keys(raw, d),
    )
    if cfg.model is None or cfg.action == InjectionAction.OFF:
        return cfg
    try:  # loaded here, once per config, so `config check` and start-up report a model that cannot work
        files = find_files(cfg.model)
        classifier = load_classifier(files, cfg.model_label, cfg.model_max_tokens, cfg.model_max_windows)
    except ModelError as exc:
        raise ConfigError(f"{exc.key}: {exc}") from None
    return replace(cfg, classifier=classifier)


def _model_keys(raw: Mapping[str, Any], d: InjectionConfig) -> dict[str, Any]:
    """The `injection.model*` keys, checked (the model itself is loaded by _injection)."""
    weight = raw.get("model_weight", d.model_weight)
    if weight is not None and (
        isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1
    ):
        raise ConfigError(
            "injection.model_weight: expected a number in [0, 1] (the model's share of the score) or null "
            f"(the higher of the two scores), got {weight!r}"
        )
    label = raw.get("model_label", d.model_label)
    if label is not None and (isinstance(label, bool) or not isinstance(label, str | int) or label == ""):
        raise ConfigError(
            f"injection.model_label: expected a label name or index of the model, got {label!r}"
        )
    return {
        "model": _model_path(raw.get("model", d.model)),
        "model_label": _int("injection.model_label", label, 0) if isinstance(label, int) else label,
        "model_max_tokens": _int(
            "injection.model_max_tokens", raw.get("model_max_tokens", d.model_max_tokens), 16
        ),
        "model_max_windows": _int(
            "injection.model_max_windows", raw.get("model_max_windows", d.model_max_windows), 1
        ),
        "model_weight": None if weight is None else float(weight),
        "model_queue": _int("injection.model_queue", raw.get("model_queue", d.model_queue), 1),
        "model_timeout_seconds": _seconds(
            "injection.model_timeout_seconds", raw.get("model_timeout_seconds", d.model_timeout_seconds)
        ),
        "model_threads": _int("injection.model_threads", raw.get("model_threads", d.model_threads), 1),
    }


def _model_path(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(
            "injection.model: expected the path of a .onnx file or of a directory holding model.onnx and "
            f"tokenizer.json, got {value!r}"
        )
    return value


_DLP_KEYS = ("enabled", "default_action", "actions", "max_scan_bytes", "oversize", "scan_timeout_seconds",
             "on_timeout", "stream_overlap", "clean_cache_chars", "bindings", "decode", "hash_key")  # fmt: skip
_ON_TIMEOUT_ALIASES = {"pass_and_flag": "pass", "pass-and-flag": "pass", "flag": "pass"}


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number of seconds, got {value!r}")
    return float(value)


def parse_config(dlp: Mapping[str, Any], injection: Mapping[str, Any]) -> DlpConfig:
    _keys("dlp", dlp, _DLP_KEYS)
    d = DlpConfig(hash_key=b"")
    default_action = dlp.get("default_action")
    hash_key = dlp.get("hash_key")
    if hash_key is not None and (not isinstance(hash_key, str) or len(hash_key) < 16):
        raise ConfigError(
            "dlp.hash_key: expected a string of at least 16 characters (keys the finding hashes)"
        )
    return DlpConfig(
        enabled=_bool("dlp.enabled", dlp.get("enabled", True)),
        default_action=None
        if default_action is None
        else _enum("dlp.default_action", default_action, Action, (Action.LOG, Action.REDACT, Action.BLOCK)),
        actions=_actions(dlp.get("actions", {})),
        max_scan_bytes=_int("dlp.max_scan_bytes", dlp.get("max_scan_bytes", d.max_scan_bytes), 1024),
        oversize=_enum("dlp.oversize", dlp.get("oversize", d.oversize.value), Oversize),
        scan_timeout_seconds=_seconds(
            "dlp.scan_timeout_seconds", dlp.get("scan_timeout_seconds", d.scan_timeout_seconds)
        ),
        on_timeout=_enum(
            "dlp.on_timeout",
            _ON_TIMEOUT_ALIASES.get(str(dlp.get("on_timeout")), dlp.get("on_timeout", d.on_timeout.value)),
            OnTimeout,
        ),
        stream_overlap=_int("dlp.stream_overlap", dlp.get("stream_overlap", d.stream_overlap), 64),
        clean_cache_chars=_int("dlp.clean_cache_chars", dlp.get("clean_cache_chars", d.clean_cache_chars), 0),
        bindings=builtin_bindings() + parse_bindings(dlp.get("bindings", []), set(GROUPS)),
        decode=_decode(dlp.get("decode", {})),
        injection=_injection(injection),
        hash_key=hash_key.encode() if hash_key else secrets.token_bytes(32),
    )
