"""CLI commands for pinned MCP tools: `mcp tools [--server S]`, `mcp accept SERVER TOOL`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import click

from palaryn_proxy.config import Config
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.storage import open_storage
from palaryn_proxy.toolguard.pins import Pin, PinBook


@click.group(name="mcp")
def mcp_group() -> None:
    """MCP tools pinned from each server's first tools/list answer (shared storage)."""


def _run(config: Config, action: Callable[[PinBook], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        cfg = config.sections.storage
        storage = open_storage(cfg.url, key_prefix=cfg.key_prefix, write_behind=False)
        try:
            return await action(PinBook(storage))
        finally:
            await storage.close()

    try:
        return asyncio.run(go())
    except PalarynError as exc:
        raise click.ClickException(str(exc)) from None
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None


def _line(p: Pin) -> str:
    state = "pinned" if p.pending is None else ("CHANGED" if p.pinned is not None else "NEW")
    version = p.pending or p.pinned
    digest = version.hash[:12] if version else "-"
    return f"{p.server}  {p.name:<24} {state:<8} {digest}  {(version.description if version else '')[:60]!r}"


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    @mcp_group.command(name="tools")
    @proxy_options
    @click.option("--server", help="Only this server (host and path, as listed).")
    @click.option("--json", "as_json", is_flag=True)
    def mcp_tools(server: str | None, as_json: bool, **kwargs: Any) -> None:
        """List pinned tools; CHANGED / NEW ones wait for `mcp accept`."""
        pins = _run(load(kwargs), lambda book: book.all(server))
        if as_json:
            click.echo(json.dumps([asdict(p) for p in pins], indent=2))
            return
        for p in pins:
            click.echo(_line(p))

    @mcp_group.command(name="accept")
    @proxy_options
    @click.argument("server")
    @click.argument("tool")
    def mcp_accept(server: str, tool: str, **kwargs: Any) -> None:
        """Pin the new version of TOOL on SERVER (it is listed again, unflagged)."""
        click.echo(_line(_run(load(kwargs), lambda book: book.accept(server, tool))))

    main.add_command(mcp_group)
