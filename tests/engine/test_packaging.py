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


def test_no_stage_addon_imports_another_stage_addon():
    """Stages talk through FlowState's typed fields; only addons/__init__.py builds the pipeline from them.
    Private glue modules (`addons/_*.py`) hold no stage and may be imported by all."""
    addons = ROOT / "addons"
    stages = {
        p.stem for p in addons.glob("*.py") if not p.stem.startswith("_") and p.stem != "palaryn_pipeline"
    }
    for stage in stages:
        for node in ast.walk(ast.parse((addons / f"{stage}.py").read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[:2] == ["palaryn_proxy", "addons"] and len(parts) > 2:
                    assert parts[2] not in stages - {stage}, f"addons/{stage}.py imports the stage {parts[2]}"


def test_flow_state_has_typed_fields_only():
    from dataclasses import fields

    from palaryn_proxy.types import FlowState

    names = {f.name for f in fields(FlowState)}
    assert "extra" not in names
    assert {"llm", "stream", "admission", "answered_by_proxy", "audited"} <= names


def test_every_dashboard_file_ships():
    """The console's static files are package data: a folder missing from the globs is missing in a wheel."""
    from fnmatch import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "palaryn_proxy.console"
    ]
    static = ROOT / "palaryn_proxy" / "console" / "static"
    files = [p.relative_to(static.parent).as_posix() for p in static.rglob("*") if p.is_file()]
    assert files and [f for f in files if not any(fnmatch(f, pat) and f.count("/") == pat.count("/")
                                                  for pat in patterns)] == []  # fmt: skip
