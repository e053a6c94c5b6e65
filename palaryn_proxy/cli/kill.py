"""CLI kill switch: `kill --actor A | --workspace W | --all [--reason R] [--for 1h]`, `unkill ...`, `kill --list`."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Any

import click

from palaryn_proxy.config import Config
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.storage import open_storage
from palaryn_proxy.toolguard.kills import Kill, KillBook, parse_duration, scope_of


def _run(config: Config, action: Callable[[KillBook], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        cfg = config.sections.storage
        storage = open_storage(cfg.url, key_prefix=cfg.key_prefix, write_behind=False)
        try:
            return await action(KillBook(storage))
        finally:
            await storage.close()

    try:
        return asyncio.run(go())
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None


def _line(k: Kill) -> str:
    until = f" until {k.until:.0f}" if k.until else ""
    return f"{k.scope}:{k.target}  by {k.by}{until}  {k.reason}"


def _scope(actor: str | None, workspace: str | None, everything: bool) -> tuple[str, str]:
    try:
        return scope_of(actor, workspace, everything)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (--actor, --workspace or --all)") from None


def _scope_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--all", "everything", is_flag=True, help="Every actor and workspace.")(fn)
    fn = click.option("--workspace", help="Every actor of this workspace.")(fn)
    return click.option("--actor", help="One actor.")(fn)


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    @main.command(name="kill")
    @proxy_options
    @_scope_options
    @click.option("--reason", default="", help="Why (the agent sees it in the 403).")
    @click.option(
        "--for", "duration", help="Lift it after this long: 90s, 15m, 1h, 2d (default: until unkill)."
    )
    @click.option("--list", "show", is_flag=True, help="List the kills in force instead.")
    @click.option("--json", "as_json", is_flag=True)
    def kill_cmd(
        actor: str | None,
        workspace: str | None,
        everything: bool,
        reason: str,
        duration: str | None,
        show: bool,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        """Refuse every new request of a scope on every replica within a second; cut its open streams."""
        config = load(kwargs)
        if show:
            kills = _run(config, lambda book: book.all())
            click.echo(
                json.dumps([k.describe() for k in kills], indent=2)
                if as_json
                else "\n".join(map(_line, kills))
            )
            return
        scope, target = _scope(actor, workspace, everything)
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--for") from None
        made = _run(config, lambda book: book.kill(scope, target, reason, getpass.getuser(), seconds))
        click.echo(json.dumps(made.describe()) if as_json else f"killed {_line(made)}")

    @main.command(name="unkill")
    @proxy_options
    @_scope_options
    def unkill_cmd(actor: str | None, workspace: str | None, everything: bool, **kwargs: Any) -> None:
        """Lift a kill."""
        scope, target = _scope(actor, workspace, everything)
        if not _run(load(kwargs), lambda book: book.unkill(scope, target)):
            raise click.ClickException(f"no kill of {scope} {target!r} in force")
        click.echo(f"unkilled {scope}:{target}")
