"""CLI commands for policy packs and approvals: `policy validate|test`, `approvals list|show|approve|deny`."""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from palaryn_proxy.classify import mcp_request
from palaryn_proxy.config import Config
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.policy import PolicyContext, load_packs
from palaryn_proxy.policy.approvals import Approval, ApprovalBook
from palaryn_proxy.storage import open_storage


@click.group(name="policy")
def policy_group() -> None:
    """Policy packs."""


@policy_group.command(name="validate")
@click.argument("files", nargs=-1, required=True)
def policy_validate(files: tuple[str, ...]) -> None:
    """Validate pack FILES (or shipped pack names); errors name the pack, rule and key."""
    try:
        engine = load_packs(files)
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    for pack in engine.packs:
        click.echo(f"{pack.name}: OK ({len(pack.rules)} rules)")


@policy_group.command(name="test")
@click.argument("files", nargs=-1, required=True)
@click.option("--method", default="GET", show_default=True)
@click.option("--url", required=True, help="The request URL, e.g. https://api.github.com/repos/x/y")
@click.option("--actor", default="anonymous", show_default=True)
@click.option("--workspace", default="default", show_default=True)
@click.option("--tool", help="MCP tool name (default: from --body if it is a tools/call, else http.request)")
@click.option("--kind", type=click.Choice(["http", "mcp", "llm"]), help="Flow kind (default: guessed).")
@click.option("--provider", help="LLM provider, for providers conditions.")
@click.option("--model", help="LLM model, for models conditions.")
@click.option(
    "--body", "body_file", type=click.Path(exists=True, dir_okay=False), help="Request body file (JSON)."
)
def policy_test(
    files: tuple[str, ...],
    method: str,
    url: str,
    actor: str,
    workspace: str,
    tool: str | None,
    kind: str | None,
    provider: str | None,
    model: str | None,
    body_file: str | None,
) -> None:
    """Print the decision for one request and explain which rule matched and why earlier ones did not."""
    try:
        engine = load_packs(files)
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    body = Path(body_file).read_bytes() if body_file else b""
    json_body: Any = None
    if body:
        try:
            json_body = json.loads(body)
        except ValueError:
            json_body = None
    mcp = mcp_request(body, "application/json") if body else None
    guessed_kind = kind or ("mcp" if mcp else ("llm" if provider else "http"))
    guessed_tool = tool or (
        mcp.calls[0].policy_tool if mcp else ("llm" if guessed_kind == "llm" else "http.request")
    )
    ctx = PolicyContext.from_url(
        method,
        url,
        actor=actor,
        workspace=workspace,
        kind=guessed_kind,
        tool=guessed_tool,
        provider=provider,
        model=model,
        json_body=json_body,
        mcp_server=PolicyContext.from_url(method, url).host if mcp else None,
    )
    result = engine.evaluate(ctx, explain=True)
    click.echo(
        f"decision: {result.effect}" + (f" (pack {result.pack}, rule {result.rule})" if result.rule else "")
    )
    if result.message:
        click.echo(f"message: {result.message}")
    for line in result.explanation:
        click.echo(f"  {line}")
    for hit in result.reports:
        click.echo(f"  report-only: {hit.pack}/{hit.rule} would have {hit.would_have}")


@click.group(name="approvals")
def approvals_group() -> None:
    """Requests held for human approval (shared storage: any replica, any machine with the same storage.url)."""


def _run(config: Config, action: Callable[[ApprovalBook], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        storage_config = config.sections.storage
        storage = open_storage(storage_config.url, key_prefix=storage_config.key_prefix, write_behind=False)
        try:
            return await action(ApprovalBook(storage))
        finally:
            await storage.close()

    try:
        return asyncio.run(go())
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None


def _line(a: Approval) -> str:
    left = max(0, int(a.expires - time.time()))
    waiting = f", held {left}s more" if a.status == "pending" and left else ""
    return f"{a.id}  {a.status:<8} {a.actor}@{a.workspace}  {a.method} {a.url}  rule={a.rule}{waiting}"


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Add the policy and approvals groups to the main CLI (approvals take the usual proxy flags)."""

    @approvals_group.command(name="list")
    @proxy_options
    @click.option("--all", "show_all", is_flag=True, help="Also decided approvals (default: pending only).")
    @click.option("--json", "as_json", is_flag=True)
    def approvals_list(show_all: bool, as_json: bool, **kwargs: Any) -> None:
        """List approvals (pending by default)."""
        found = _run(load(kwargs), lambda book: book.all(None if show_all else "pending"))
        if as_json:
            click.echo(json.dumps([a.describe() for a in found], indent=2))
        for a in [] if as_json else found:
            click.echo(_line(a))

    @approvals_group.command(name="show")
    @proxy_options
    @click.argument("approval_id")
    def approvals_show(approval_id: str, **kwargs: Any) -> None:
        """Show one approval as JSON."""
        found = _run(load(kwargs), lambda book: book.get(approval_id))
        if found is None:
            raise click.ClickException(f"no approval {approval_id!r} (unknown or expired)")
        click.echo(json.dumps(found.describe(), indent=2))

    @approvals_group.command(name="approve")
    @proxy_options
    @click.argument("approval_id")
    @click.option("--reason", help="Why (recorded with the decision).")
    def approvals_approve(approval_id: str, reason: str | None, **kwargs: Any) -> None:
        """Let a held request go upstream (and its retries within the rule's ttl)."""
        decided = _run(load(kwargs), lambda book: book.decide(approval_id, True, getpass.getuser(), reason))
        click.echo(_line(decided))

    @approvals_group.command(name="deny")
    @proxy_options
    @click.argument("approval_id")
    @click.option("--reason", help="Why (the agent sees it).")
    def approvals_deny(approval_id: str, reason: str | None, **kwargs: Any) -> None:
        """Refuse a held request (403 to the agent)."""
        decided = _run(load(kwargs), lambda book: book.decide(approval_id, False, getpass.getuser(), reason))
        click.echo(_line(decided))

    main.add_command(policy_group)
    main.add_command(approvals_group)
