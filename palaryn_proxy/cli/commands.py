"""The `palaryn-proxy` group and its own commands: run, env, exec, ca, config, hash-token, audit, budget, usage.

anomalies.py, events.py, credentials.py, policy.py and doctor.py register the rest (anomalies; events;
credentials; policy and approvals; doctor).
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from palaryn_proxy import __version__
from palaryn_proxy.audit import chain_files, read_records, verify
from palaryn_proxy.cli import anomalies as cli_anomalies
from palaryn_proxy.cli import auditsign as cli_auditsign
from palaryn_proxy.cli import credentials as cli_credentials
from palaryn_proxy.cli import events as cli_events
from palaryn_proxy.cli import kill as cli_kill
from palaryn_proxy.cli import mcp as cli_mcp
from palaryn_proxy.cli import policy as cli_policy
from palaryn_proxy.cli import reconcile as cli_reconcile
from palaryn_proxy.cli import replay as cli_replay
from palaryn_proxy.cli.report import GROUPS, aggregate, parse_since, render_table
from palaryn_proxy.config import Config, load_config
from palaryn_proxy.credentials.vault import Vault
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.identity import hash_token
from palaryn_proxy.tls import agentenv, ca

_PROXY_FLAGS = ("listen", "mode", "certs_dir", "audit_log", "metrics_listen")


def proxy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every command describing a proxy takes; each overrides the config key of the same name."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            help="Config file (default: $PALARYN_CONFIG, else ./palaryn.yaml if present).",
        ),
        click.option("--listen", help="HOST:PORT of the proxy listener (config: listen)."),
        click.option(
            "--mode", multiple=True, help="regular | transparent | socks5 | MODE@HOST:PORT (repeatable)."
        ),
        click.option(
            "--certs-dir", type=click.Path(file_okay=False), help="CA directory (config: certs_dir)."
        ),
        click.option(
            "--audit-log", type=click.Path(dir_okay=False), help="Audit log file (config: audit_log)."
        ),
        click.option("--metrics-listen", help="HOST:PORT for /metrics, or 'off' (config: metrics_listen)."),
        click.option(
            "--policy",
            "policy",
            multiple=True,
            help="Policy pack file or shipped pack name, repeatable (config: policy_packs).",
        ),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


def _load(kwargs: dict[str, Any]) -> Config:
    overrides = {k: kwargs.pop(k, None) for k in _PROXY_FLAGS}
    overrides["mode"] = list(overrides["mode"]) if overrides["mode"] else None
    packs = kwargs.pop("policy", None)
    overrides["policy_packs"] = list(packs) if packs else None
    try:
        return load_config(kwargs.pop("config_path", None), overrides)
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None


def config_from_flags(fn: Callable[..., Any]) -> Callable[..., Any]:
    @proxy_options
    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        config = _load(kwargs)
        return fn(config, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="palaryn-proxy")
def main() -> None:
    """palaryn-proxy: guard rails for AI agents, as an HTTPS proxy."""


@main.command()
@config_from_flags
@click.option("--quiet", is_flag=True, help="Do not print the banner.")
def run(config: Config, quiet: bool) -> None:
    """Start the proxy (Ctrl-C or SIGTERM drains in-flight flows and exits)."""
    from palaryn_proxy.serve import server  # imports mitmproxy: only when running

    server.configure_logging(config.log_level, config.log_format.lower(), tuple(config.mask_query_keys))
    try:  # a credential value that cannot be read stops the start here, with its reason
        Vault(config.sections.credentials, config.certs_dir).start()
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(asyncio.run(server.serve(config, quiet=quiet)))


@main.command()
@config_from_flags
@click.option("--actor", help="Actor name to put in the proxy URL.")
@click.option("--token", envvar="PALARYN_TOKEN", help="Proxy token for the actor (default: $PALARYN_TOKEN).")
def env(config: Config, actor: str | None, token: str | None) -> None:
    """Print the shell exports that put an agent behind the proxy: eval "$(palaryn-proxy env)"."""
    ca.ensure_ca(config.certs_dir)
    env = {**agentenv.agent_environment(config, actor, token), **_credential_env(config, actor)}
    click.echo(agentenv.shell_exports(env))


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@config_from_flags
@click.option("--actor", help="Actor name to put in the proxy URL.")
@click.option("--token", envvar="PALARYN_TOKEN", help="Proxy token for the actor (default: $PALARYN_TOKEN).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(config: Config, actor: str | None, token: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND with the agent environment set; exits with its exit code."""
    ca.ensure_ca(config.certs_dir)
    child_env = {
        **os.environ,
        **agentenv.agent_environment(config, actor, token),
        **_credential_env(config, actor),
    }
    try:
        completed = subprocess.run(list(command), env=child_env, check=False)
    except FileNotFoundError:
        raise click.ClickException(f"command not found: {command[0]}") from None
    sys.exit(completed.returncode if completed.returncode >= 0 else 128 - completed.returncode)


def _credential_env(config: Config, actor: str | None) -> dict[str, str]:
    """The credentials' `env` variables holding the actor's placeholders."""
    try:
        return cli_credentials.agent_env(config, actor)
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None


@main.group(name="ca")
def ca_group() -> None:
    """The proxy's certificate authority."""


@ca_group.command(name="init")
@config_from_flags
def ca_init(config: Config) -> None:
    """Create the CA in the certs directory if it does not exist."""
    path, created = ca.ensure_ca(config.certs_dir)
    click.echo(f"{'created' if created else 'exists'}: {path.resolve()}")


@ca_group.command(name="path")
@config_from_flags
def ca_path(config: Config) -> None:
    """Print the path of the CA certificate agents must trust."""
    click.echo(ca.ensure_ca(config.certs_dir)[0].resolve())


@ca_group.command(name="export")
@config_from_flags
def ca_export(config: Config) -> None:
    """Print the CA certificate (PEM)."""
    click.echo(ca.ensure_ca(config.certs_dir)[0].read_text(), nl=False)


@main.group(name="config")
def config_group() -> None:
    """Configuration files."""


@config_group.command(name="check")
@click.argument("file", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Validate a config file; exits 1 with the key at fault and the fix."""
    try:
        load_config(file, environ={})
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{file}: OK")


@main.command(name="hash-token")
@click.argument("token", required=False)
def hash_token_cmd(token: str | None) -> None:
    """Print the 'sha256:...' form of a proxy token for identity.actors.<name>.tokens (reads stdin if no TOKEN)."""
    value = token if token is not None else sys.stdin.readline().strip()
    click.echo(hash_token(value))


@main.group(name="audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command(name="verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--checkpoints", type=click.Path(dir_okay=False), help="Signed checkpoints to check against.")
@click.option("--pubkey", type=click.Path(dir_okay=False), help="Their public key (`audit pubkey`).")
def audit_verify(files: tuple[str, ...], checkpoints: str | None, pubkey: str | None) -> None:
    """Verify the hash chain of FILES (rotated files oldest first, then the current one); with --checkpoints
    and --pubkey, also that no record signed by a checkpoint was removed (from the end too)."""
    if (checkpoints is None) != (pubkey is None):
        raise click.UsageError("--checkpoints and --pubkey go together")
    result = (
        cli_auditsign.verify_with_checkpoints(files, checkpoints, pubkey)
        if checkpoints is not None and pubkey is not None
        else verify(files)
    )
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


def _matches(record: dict[str, Any], actor: str | None, decision: str | None) -> bool:
    return (actor is None or record.get("actor") == actor) and (
        decision is None or record.get("decision") == decision
    )


def _format(record: dict[str, Any]) -> str:
    usage = record.get("usage") or {}
    tokens = f" tokens={usage.get('input_tokens', 0)}/{usage.get('output_tokens', 0)}" if usage else ""
    cost = f" ${record['cost_usd']}" if record.get("cost_usd") else ""
    return (
        f"{record.get('ts')} {record.get('decision', '?'):<17} {record.get('status') or '-':>3} "
        f"{record.get('actor')}@{record.get('workspace')} {record.get('method')} {record.get('url')}"
        f"{tokens}{cost}"
    )


@audit_group.command(name="tail")
@proxy_options
@click.option("-n", "lines", default=20, show_default=True, help="How many records to show first.")
@click.option("-f", "follow", is_flag=True, help="Keep printing new records.")
@click.option("--actor", help="Only this actor.")
@click.option("--decision", help="Only this decision (allow, deny, rate_limited, budget_exceeded, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print raw JSON records.")
def audit_tail(
    lines: int, follow: bool, actor: str | None, decision: str | None, as_json: bool, **kwargs: Any
) -> None:
    """Show the latest audit records of the configured log."""
    import json

    config = _load(kwargs)
    path = Path(config.audit_log)
    records = [r for r in read_records(chain_files(path)) if _matches(r, actor, decision)]
    for record in records[-lines:] if lines > 0 else []:
        click.echo(json.dumps(record) if as_json else _format(record))
    if not follow:
        return
    position = path.stat().st_size if path.exists() else 0
    try:
        while True:
            time.sleep(0.5)
            if not path.exists():
                continue
            if path.stat().st_size < position:  # rotated
                position = 0
            with path.open("rb") as fh:
                fh.seek(position)
                chunk = fh.read()
            complete, _, _ = chunk.rpartition(b"\n")
            position += len(complete) + (1 if complete else 0)
            for line in complete.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if _matches(record, actor, decision):
                    click.echo(json.dumps(record) if as_json else _format(record), nl=True)
    except KeyboardInterrupt:
        return


@main.group(name="budget")
def budget_group() -> None:
    """Budgets in the shared storage (what the running proxy enforces)."""


async def _with_budgets(config: Config, action: Callable[[Any], Any]) -> Any:
    from palaryn_proxy.budget import BudgetEngine
    from palaryn_proxy.storage import open_storage

    budgets = config.sections.budgets
    if not budgets.budgets:
        raise click.ClickException("no budgets are configured (config key `budgets`)")
    storage_config = config.sections.storage
    storage = open_storage(storage_config.url, key_prefix=storage_config.key_prefix, write_behind=False)
    try:
        return await action(BudgetEngine(budgets, storage))
    finally:
        await storage.close()


@budget_group.command(name="status")
@proxy_options
@click.option("--actor", help="Only the budgets that apply to this actor.")
@click.option("--workspace", help="Only the budgets that apply to this workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def budget_status(actor: str | None, workspace: str | None, as_json: bool, **kwargs: Any) -> None:
    """Each applicable budget: limit, spent, reserved, remaining and when its period resets."""
    import json

    config = _load(kwargs)
    try:
        rows = asyncio.run(_with_budgets(config, lambda e: e.status(actor=actor, workspace=workspace)))
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    for row in rows:
        data = row.to_dict()
        click.echo(f"{row.describe()}; resets {data['resets_at'] or 'never'}")


@budget_group.command(name="reset")
@proxy_options
@click.argument("budget")
@click.option("--scope-value", help="Only this actor / workspace / task (default: every value).")
def budget_reset(budget: str, scope_value: str | None, **kwargs: Any) -> None:
    """Zero a budget's current period."""
    config = _load(kwargs)
    try:
        count = asyncio.run(_with_budgets(config, lambda e: e.reset(budget, scope_value)))
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reset {count} counter(s) of budget {budget!r}")


@main.command(name="usage")
@proxy_options
@click.option("--since", default="24h", show_default=True, help="Time window: 30m, 24h, 7d, 2w or 'all'.")
@click.option(
    "--by", "by", default="actor", show_default=True, type=click.Choice(GROUPS), help="Group rows by."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
def usage_cmd(since: str, by: str, as_json: bool, **kwargs: Any) -> None:
    """LLM requests, tokens and cost from the audit log."""
    import json

    config = _load(kwargs)
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    rows = aggregate(read_records(chain_files(config.audit_log)), by, start)
    if as_json:
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        click.echo(render_table(rows, by))


cli_policy.register(main, _load, proxy_options)
cli_auditsign.register(audit_group, _load, proxy_options)
cli_replay.register(cli_policy.policy_group)
cli_anomalies.register(main, _load, proxy_options)
cli_events.register(main, _load, proxy_options)
cli_credentials.register(main, _load, proxy_options)
cli_mcp.register(main, _load, proxy_options)
cli_kill.register(main, _load, proxy_options)
cli_reconcile.register(main, _load, proxy_options)
from palaryn_proxy.cli import doctor  # noqa: E402 - kept beside its registration

doctor.register(main, _load, proxy_options)


if __name__ == "__main__":
    main()
