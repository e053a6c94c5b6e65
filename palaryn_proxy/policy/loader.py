"""Load and validate policy packs (Palaryn's YAML format plus kinds, transform, mode and default_effect)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy.conditions import AnyCondition, Matcher, compile_condition, host_matcher
from palaryn_proxy.policy.model import ApprovalSpec, Effect
from palaryn_proxy.policy.transforms import Transform, parse_transforms

PACK_KEYS = frozenset(
    {"name", "version", "description", "domain_allowlist", "domain_blocklist", "rules", "default_effect"}
    | {"mode", "approval"}
)
RULE_KEYS = frozenset(
    {"name", "description", "effect", "priority", "conditions", "approval", "transform", "mode"}
)
APPROVAL_KEYS = frozenset({"scope", "ttl_seconds", "reason", "hold_seconds"})
DEFAULT_PRIORITY = 100
# Without a catch-all rule Palaryn's packs deny what no rule allowed (its packs end in "Allow remaining").
DEFAULT_EFFECT = Effect.DENY
# policy-packs/ ships as the package palaryn_proxy.policy_packs (a checkout, an editable install and a wheel).
SHIPPED_PACKS_DIR = Path(str(resources.files("palaryn_proxy.policy_packs")))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    effect: Effect
    priority: int
    conditions: tuple[AnyCondition, ...]
    approval: ApprovalSpec | None
    transforms: tuple[Transform, ...]
    report: bool
    index: int  # position in the file; breaks priority ties

    @property
    def response_phase(self) -> bool:
        """Rules on model_tools judge model responses, not requests."""
        return any(c.key == "model_tools" for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    version: str
    description: str
    source: str
    blocklist: Matcher | None
    allowlist: Matcher | None
    rules: tuple[Rule, ...]  # sorted by (priority, index)
    default_effect: Effect
    default_approval: ApprovalSpec | None
    report: bool


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (a silently overridden rule is a policy bug)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _str(where: str, raw: Any, default: str = "") -> str:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigError(f"{where}: expected a string, got {raw!r}")
    return str(raw)


def _effect(where: str, raw: Any) -> Effect:
    try:
        return Effect(str(raw).upper())
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(e.value for e in Effect)}") from None


def _report(where: str, raw: Any) -> bool:
    if raw is None or raw == "enforce":
        return False
    if raw == "report":
        return True
    raise ConfigError(f"{where}: {raw!r} is not 'enforce' or 'report'")


def _number(where: str, raw: Any, *, integer: bool) -> Any:
    kinds = int if integer else (int, float)
    if isinstance(raw, bool) or not isinstance(raw, kinds) or raw < 0:
        raise ConfigError(
            f"{where}: expected a non-negative {'integer' if integer else 'number'}, got {raw!r}"
        )
    return raw


def _approval(where: str, raw: Any, default_reason: str) -> ApprovalSpec:
    if raw is None:
        return ApprovalSpec(reason=default_reason)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(sorted(APPROVAL_KEYS))}")
    _no_unknown(where, raw, APPROVAL_KEYS)
    hold = raw.get("hold_seconds")
    return ApprovalSpec(
        scope=_str(f"{where}.scope", raw.get("scope"), "admin"),
        ttl_seconds=_number(f"{where}.ttl_seconds", raw.get("ttl_seconds", 3600), integer=True),
        reason=_str(f"{where}.reason", raw.get("reason"), default_reason),
        hold_seconds=None if hold is None else float(_number(f"{where}.hold_seconds", hold, integer=False)),
    )


def _no_unknown(where: str, raw: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; valid keys are {', '.join(sorted(allowed))}")


def _conditions(where: str, raw: Any) -> tuple[AnyCondition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping (use {{}} to match everything)")
    compiled = (compile_condition(where, str(key), value) for key, value in raw.items())
    return tuple(c for c in compiled if c is not None)


def parse_rule(where: str, raw: Any, index: int) -> Rule:
    """Validate one rule; `where` names the pack, errors add the rule and key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: rules[{index}]: expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: rules[{index}].name: every rule needs a non-empty name")
    at = f"{where}: rule {name!r} (rules[{index}])"
    _no_unknown(at, raw, RULE_KEYS)
    if "effect" not in raw:
        raise ConfigError(f"{at}.effect: missing; use one of {', '.join(e.value for e in Effect)}")
    effect = _effect(f"{at}.effect", raw["effect"])
    description = _str(f"{at}.description", raw.get("description"))
    if "approval" in raw and effect is not Effect.REQUIRE_APPROVAL:
        raise ConfigError(f"{at}.approval: only a REQUIRE_APPROVAL rule takes an approval block")
    if ("transform" in raw) != (effect is Effect.TRANSFORM):
        raise ConfigError(
            f"{at}.transform: a TRANSFORM rule needs a transform block, other effects take none"
        )
    approval = None
    if effect is Effect.REQUIRE_APPROVAL:
        approval = _approval(f"{at}.approval", raw.get("approval"), description or name)
    return Rule(
        name=name,
        description=description,
        effect=effect,
        priority=_number(f"{at}.priority", raw.get("priority", DEFAULT_PRIORITY), integer=True),
        conditions=_conditions(f"{at}.conditions", raw.get("conditions")),
        approval=approval,
        transforms=parse_transforms(f"{at}.transform", raw["transform"]) if "transform" in raw else (),
        report=_report(f"{at}.mode", raw.get("mode")),
        index=index,
    )


def _domain_list(where: str, raw: Any) -> Matcher | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of domains (exact or *.example.com)")
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}[{i}]: expected a domain string, got {item!r}")
    return host_matcher(raw) if raw else None


def _rules(where: str, raw: Any) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}.rules: expected a list of rules")
    errors: list[str] = []
    rules: list[Rule] = []
    for i, item in enumerate(raw):
        try:
            rules.append(parse_rule(where, item, i))
        except ConfigError as exc:  # collect every broken rule so one validate run shows them all
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: rule {dupes[0]!r}: rule names must be unique within a pack")
    return tuple(sorted(rules, key=lambda r: (r.priority, r.index)))


def parse_pack(raw: Any, source: str) -> Pack:
    """Validate a pack already read from YAML; `source` (the file) names packs without a `name`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"policy pack {source}: expected a mapping at the top level")
    name = raw.get("name") or Path(source).stem
    where = f"policy pack {str(name)!r} ({source})"
    _no_unknown(where, raw, PACK_KEYS)
    default_effect = _effect(f"{where}.default_effect", raw.get("default_effect", DEFAULT_EFFECT))
    default_approval = None
    if default_effect is Effect.REQUIRE_APPROVAL:
        default_approval = _approval(f"{where}.approval", raw.get("approval"), "no rule matched")
    elif "approval" in raw:
        raise ConfigError(f"{where}.approval: only used when default_effect is REQUIRE_APPROVAL")
    if default_effect is Effect.TRANSFORM:
        raise ConfigError(f"{where}.default_effect: TRANSFORM needs a rule with a transform block")
    return Pack(
        name=_str(f"{where}.name", name),
        version=_str(f"{where}.version", raw.get("version")),
        description=_str(f"{where}.description", raw.get("description")),
        source=source,
        blocklist=_domain_list(f"{where}.domain_blocklist", raw.get("domain_blocklist")),
        allowlist=_domain_list(f"{where}.domain_allowlist", raw.get("domain_allowlist")),
        rules=_rules(where, raw.get("rules")),
        default_effect=default_effect,
        default_approval=default_approval,
        report=_report(f"{where}.mode", raw.get("mode")),
    )


def resolve_pack_path(entry: str) -> Path:
    """A pack file path, or the name of a shipped pack (default, dev_fast, prod_strict, llm_only)."""
    path = Path(entry).expanduser()
    if path.is_file():
        return path
    shipped = SHIPPED_PACKS_DIR / f"{entry}.yaml"
    if "/" not in entry and shipped.is_file():
        return shipped
    raise ConfigError(f"policy_packs: {entry!r} is neither a readable file nor a shipped pack name")


def load_pack(entry: str | Path) -> Pack:
    """Read and validate one pack file (or shipped pack name); raises ConfigError naming pack, rule and key."""
    path = resolve_pack_path(str(entry))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy pack {path}: cannot read: {exc}") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy pack {path}: invalid YAML: {exc}") from None
    return parse_pack(raw, str(path))
