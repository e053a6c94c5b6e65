"""Packaging guards: every package folder is listed in pyproject; the engine never imports mitmproxy; the
engine's top level stays small (stages live in packages named after them)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
MAX_TOP_LEVEL_MODULES = 12  # counting __init__.py; a new module joins the package of the stage it serves


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"palaryn_proxy.addons", "palaryn_proxy.policy_packs"}  # mapped from addons/ and policy-packs/
    for init in (ROOT / "palaryn_proxy").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    assert found == listed


def test_engine_never_imports_mitmproxy():
    allowed = {ROOT / "palaryn_proxy" / "serve" / "server.py"}
    offenders = []
    for path in (ROOT / "palaryn_proxy").rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n == "mitmproxy" or n.startswith("mitmproxy.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_engine_top_level_stays_small():
    modules = sorted(p.name for p in (ROOT / "palaryn_proxy").glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
