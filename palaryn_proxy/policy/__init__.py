"""Policy packs: load and validate YAML packs, judge requests and model tool calls, rewrite with TRANSFORM.

Per pack: domain_blocklist, then domain_allowlist, then the first matching rule by priority (lower first,
file order breaks ties), then the pack's default_effect (DENY unless set). Rules in `mode: report` (or every
rule of a pack in report mode) never enforce: they are recorded in PolicyResult.reports and evaluation goes on
as if they were absent. Several packs: the most restrictive effect wins (see PolicyEngine). No pack: allow.
"""

from palaryn_proxy.policy.engine import PolicyEngine, load_packs
from palaryn_proxy.policy.loader import Pack, Rule, load_pack, parse_pack, resolve_pack_path
from palaryn_proxy.policy.model import (
    ApprovalSpec,
    Effect,
    PolicyContext,
    PolicyResult,
    ReportHit,
)
from palaryn_proxy.policy.transforms import Transform, TransformOp, apply_transforms

__all__ = [
    "ApprovalSpec",
    "Effect",
    "Pack",
    "PolicyContext",
    "PolicyEngine",
    "PolicyResult",
    "ReportHit",
    "Rule",
    "Transform",
    "TransformOp",
    "apply_transforms",
    "load_pack",
    "load_packs",
    "parse_pack",
    "resolve_pack_path",
]
