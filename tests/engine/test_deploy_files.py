"""The container files cannot be built here: check that what they reference exists and what they run parses."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest
import yaml

from palaryn_proxy.cli import main
from palaryn_proxy.config import load_config

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def parses(argv: list[str]) -> click.Context:
    """Resolve `palaryn-proxy ARGV` to its subcommand and parse its options, without running it."""
    command = main.commands.get(argv[0])
    assert command is not None, f"palaryn-proxy has no command {argv[0]!r}"
    return command.make_context(argv[0], list(argv[1:]))


def test_dockerfile_copies_paths_that_exist():
    sources = [exec_form(args)[:-1] for args in instruction("COPY")]
    assert sources
    for paths in sources:
        for path in paths:
            assert (ROOT / path).exists(), f"Dockerfile COPYs {path}, which is not in the repository"


def test_dockerfile_runs_the_console_script_as_non_root():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = (exec_form(a) for a in instruction("ENTRYPOINT"))
    (cmd,) = (exec_form(a) for a in instruction("CMD"))
    assert entrypoint == ["palaryn-proxy"] and "palaryn-proxy" in scripts
    ctx = parses(cmd)
    assert ctx.command.name == "run"
    assert ctx.params["listen"] == "0.0.0.0:8080" and ctx.params["metrics_listen"] == "0.0.0.0:9464"
    (user,) = instruction("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert instruction("FROM")[0].startswith("python:3.12-slim")
    (health,) = instruction("HEALTHCHECK")
    assert "/healthz" in health and ":9464" in health
    volumes = exec_form(instruction("VOLUME")[0])
    env = " ".join(instruction("ENV"))
    for volume in volumes:
        assert volume in env, f"{volume} is a volume nothing is configured to use"


def test_compose_references_the_dockerfile_and_a_valid_config():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"palaryn", "agent", "redis"} <= set(services)
    build = services["palaryn"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (ROOT / "Dockerfile").resolve()
    mounted = [v.split(":")[0] for v in services["palaryn"]["volumes"] if v.startswith("./")]
    for path in mounted:
        load_config(DEPLOY / path, environ={})  # raises on any invalid key
    command = services["palaryn"]["command"][0]
    run = shlex.split(command.split("exec ", 1)[1])
    assert run[0] == "palaryn-proxy" and parses(run[1:]).command.name == "run"
    named = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in named, source


def test_kubernetes_sidecar_redirects_all_but_the_proxy_uid():
    (pod,) = [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes-sidecar.yaml").read_text()) if doc]
    assert pod["kind"] == "Pod"
    init = " ".join(pod["spec"]["initContainers"][0]["args"])
    proxy = next(c for c in pod["spec"]["containers"] if c["name"] == "palaryn")
    uid = proxy["securityContext"]["runAsUser"]
    assert f"-m owner ! --uid-owner {uid} -j REDIRECT --to-ports 8081" in init
    assert (ROOT / "Dockerfile").read_text().count(f"USER {uid}:") == 1
    ctx = parses(proxy["args"])
    assert "transparent@127.0.0.1:8081" in ctx.params["mode"]
    assert proxy["readinessProbe"]["httpGet"]["path"] == "/readyz"
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    for container in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes


@pytest.mark.parametrize("path", ["Dockerfile", ".dockerignore", "deploy/compose.yaml"])
def test_files_exist(path):
    assert (ROOT / path).is_file()
