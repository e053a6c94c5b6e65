"""Evaluate requests (and model tool calls) against loaded packs; packs combine by the most restrictive effect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.policy.conditions import Condition, RequestView
from palaryn_proxy.policy.loader import Pack, Rule, load_pack
from palaryn_proxy.policy.model import ApprovalSpec, Effect, PolicyContext, PolicyResult, ReportHit
from palaryn_proxy.policy.transforms import Transform


@dataclass(slots=True)
class _Outcome:
    """What one pack decided (internal; the engine folds outcomes into one PolicyResult)."""

    effect: Effect
    pack: str
    rule: str
    message: str
    approval: ApprovalSpec | None = None
    transforms: tuple[Transform, ...] = ()
    reports: list[ReportHit] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _CompiledPack:
    pack: Pack
    request_rules: tuple[Rule, ...]
    response_rules: tuple[Rule, ...]


def _rule_outcome(pack: Pack, rule: Rule, view: RequestView, response: bool) -> _Outcome:
    message = f"{rule.effect.value} by rule {rule.name!r} of policy pack {pack.name!r}"
    if rule.description:
        message += f": {rule.description}"
    if response:
        tools = [
            t
            for c in rule.conditions
            if isinstance(c, Condition) and c.key == "model_tools"
            for t in c.matcher.any(view.ctx.model_tools)
        ]
        message += f" (model asked for tool {', '.join(tools)})"
    return _Outcome(rule.effect, pack.name, rule.name, message, rule.approval, rule.transforms)


def _list_outcome(pack: Pack, view: RequestView, lines: list[str] | None) -> _Outcome | None:
    """Blocklist first, then the allowlist: when set, every host outside it is denied."""
    if pack.blocklist is not None and pack.blocklist(view.host):
        return _Outcome(
            Effect.DENY, pack.name, "domain_blocklist",
            f"DENY: host {view.host!r} is on the domain_blocklist of policy pack {pack.name!r}",
        )  # fmt: skip
    if pack.allowlist is not None and not pack.allowlist(view.host):
        return _Outcome(
            Effect.DENY, pack.name, "domain_allowlist",
            f"DENY: host {view.host!r} is not on the domain_allowlist of policy pack {pack.name!r}",
        )  # fmt: skip
    if lines is not None:
        lines.append(f"[{pack.name}] host {view.host!r} passes domain_blocklist and domain_allowlist")
    return None


def _first_rule(
    pack: Pack, rules: Sequence[Rule], view: RequestView, lines: list[str] | None, response: bool
) -> tuple[_Outcome | None, list[ReportHit]]:
    """First matching rule by priority; report-mode rules are recorded and evaluation goes on past them."""
    reports: list[ReportHit] = []
    for rule in rules:
        missed = next((c for c in rule.conditions if not c.holds(view)), None)
        if missed is not None:
            if lines is not None:
                lines.append(f"[{pack.name}] rule {rule.name!r} (priority {rule.priority}) did not match: "
                             f"{missed.explain_miss(view)}")  # fmt: skip
            continue
        outcome = _rule_outcome(pack, rule, view, response)
        if rule.report and not pack.report:
            reports.append(ReportHit(pack.name, rule.name, rule.effect, outcome.message))
            if lines is not None:
                lines.append(f"[{pack.name}] rule {rule.name!r} matched in report mode "
                             f"(would have {rule.effect.value}); evaluation continues")  # fmt: skip
            continue
        if lines is not None:
            lines.append(
                f"[{pack.name}] rule {rule.name!r} (priority {rule.priority}) matched: {rule.effect.value}"
            )
        return outcome, reports
    return None, reports


def _default_outcome(pack: Pack, response: bool, lines: list[str] | None) -> _Outcome:
    # A response whose request was already allowed stays allowed unless a model_tools rule says otherwise.
    if response:
        outcome = _Outcome(Effect.ALLOW, pack.name, "no_model_tools_rule", "no model_tools rule matched")
    else:
        outcome = _Outcome(
            pack.default_effect, pack.name, "default_effect",
            f"{pack.default_effect.value} by default_effect of policy pack {pack.name!r}: no rule matched",
            pack.default_approval,
        )  # fmt: skip
    if lines is not None:
        lines.append(f"[{pack.name}] no rule matched: {outcome.effect.value} ({outcome.rule})")
    return outcome


def _evaluate_pack(cp: _CompiledPack, view: RequestView, lines: list[str] | None, response: bool) -> _Outcome:
    pack = cp.pack
    outcome = None if response else _list_outcome(pack, view, lines)
    reports: list[ReportHit] = []
    if outcome is None:
        outcome, reports = _first_rule(
            pack, cp.response_rules if response else cp.request_rules, view, lines, response
        )
    if outcome is None:
        outcome = _default_outcome(pack, response, lines)
    outcome.reports = reports
    if pack.report:  # the whole pack only reports: allow, and say what it would have done
        if outcome.effect is not Effect.ALLOW:
            reports.append(ReportHit(pack.name, outcome.rule, outcome.effect, outcome.message))
        outcome = _Outcome(
            Effect.ALLOW, pack.name, outcome.rule, f"policy pack {pack.name!r} is in report mode"
        )
        outcome.reports = reports
    return outcome


def _combine(outcomes: list[_Outcome], lines: list[str] | None) -> PolicyResult:
    decisive = outcomes[0]
    for o in outcomes[1:]:
        if o.effect.severity > decisive.effect.severity:
            decisive = o
    transforms: tuple[Transform, ...] = ()
    if decisive.effect is not Effect.DENY:
        transforms = tuple(t for o in outcomes if o.effect is Effect.TRANSFORM for t in o.transforms)
    reports = tuple(r for o in outcomes for r in o.reports)
    would_have = max((r.would_have for r in reports), key=lambda e: e.severity, default=None)
    report_only = would_have is not None and would_have.severity > decisive.effect.severity
    return PolicyResult(
        effect=decisive.effect,
        pack=decisive.pack,
        rule=decisive.rule,
        message=decisive.message,
        report_only=report_only,
        would_have=would_have if report_only else None,
        transforms=transforms,
        approval=decisive.approval,
        explanation=tuple(lines or ()),
        reports=reports,
    )


class PolicyEngine:
    """Immutable set of compiled packs, evaluated in order.

    Combining several packs: every pack judges the request on its own; the most restrictive effect wins
    (DENY > REQUIRE_APPROVAL > TRANSFORM > ALLOW), ties go to the earlier pack, and evaluation stops at the
    first DENY. Transforms of every TRANSFORM pack apply (in pack order) unless the request is denied.
    """

    def __init__(self, packs: Iterable[Pack] = ()) -> None:
        self._packs = tuple(
            _CompiledPack(
                p,
                tuple(r for r in p.rules if not r.response_phase),
                tuple(r for r in p.rules if r.response_phase),
            )
            for p in packs
        )
        names = [cp.pack.name for cp in self._packs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(
                f"policy_packs: pack name {dupes[0]!r} is loaded twice; pack names must be unique"
            )

    @property
    def packs(self) -> tuple[Pack, ...]:
        return tuple(cp.pack for cp in self._packs)

    @property
    def sources(self) -> tuple[str, ...]:
        """The files the packs came from (to watch for reloads)."""
        return tuple(cp.pack.source for cp in self._packs)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], base_dir: str | Path | None = None) -> PolicyEngine:
        """Load the packs named by config `policy_packs` (files or shipped pack names); none: allow all.

        Relative paths are taken from `base_dir` (the config file's folder) when a file exists there.
        """
        raw = cfg.get("policy_packs") or []
        if isinstance(raw, str | Path):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(p, str | Path) for p in raw):
            raise ConfigError("policy_packs: expected a list of pack files, e.g. [policy-packs/default.yaml]")
        if base_dir is not None:
            raw = [Path(base_dir) / p if (Path(base_dir) / p).is_file() else p for p in raw]
        return load_packs(raw)

    def evaluate(self, ctx: PolicyContext, *, explain: bool = False) -> PolicyResult:
        """Judge a request. With `explain`, the result says which rule matched and why earlier ones did not."""
        lines: list[str] | None = [] if explain else None
        if not self._packs:
            if lines is not None:
                lines.append("no policy pack configured: every request is allowed by policy")
            return PolicyResult(
                Effect.ALLOW, message="no policy pack configured", explanation=tuple(lines or ())
            )
        view = RequestView.of(ctx)
        outcomes: list[_Outcome] = []
        for cp in self._packs:
            outcomes.append(_evaluate_pack(cp, view, lines, response=False))
            if outcomes[-1].effect is Effect.DENY:
                break
        return _combine(outcomes, lines)

    def evaluate_model_tools(self, ctx: PolicyContext, *, explain: bool = False) -> PolicyResult:
        """Judge the tools a model asks to call (ctx.model_tools) against rules with a model_tools condition.

        Only those rules take part; no match means ALLOW (the request itself was judged by `evaluate`).
        """
        lines: list[str] | None = [] if explain else None
        if not ctx.model_tools or not any(cp.response_rules for cp in self._packs):
            return PolicyResult(
                Effect.ALLOW, message="no model_tools rule applies", explanation=tuple(lines or ())
            )
        view = RequestView.of(ctx)
        outcomes: list[_Outcome] = []
        for cp in self._packs:
            outcomes.append(_evaluate_pack(cp, view, lines, response=True))
            if outcomes[-1].effect is Effect.DENY:
                break
        return _combine(outcomes, lines)


def load_packs(paths: Iterable[str | Path]) -> PolicyEngine:
    """Load and validate every pack, or raise ConfigError (all broken packs named) and build nothing.

    Pure: the caller swaps engines only on success, so a bad file on reload keeps the old policy.
    """
    packs: list[Pack] = []
    errors: list[str] = []
    for path in paths:
        try:
            packs.append(load_pack(path))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return PolicyEngine(packs)
