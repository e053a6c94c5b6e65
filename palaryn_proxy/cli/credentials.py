"""`palaryn-proxy credentials list | placeholder NAME`: the vault's credentials (never their values)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from palaryn_proxy.config import Config
from palaryn_proxy.credentials.placeholders import Placeholders, load_key
from palaryn_proxy.credentials.sources import ResolveError, ValueSource
from palaryn_proxy.credentials.vault import Vault
from palaryn_proxy.errors import PalarynError


def placeholders(config: Config) -> Placeholders:
    """The placeholders the running proxy derives (the key file in certs_dir is created if missing)."""
    return Placeholders(load_key(config.certs_dir), config.sections.credentials.credentials)


def agent_env(config: Config, actor: str | None) -> dict[str, str]:
    """Each credential's `env` variables with the actor's placeholders (credentials it may use only)."""
    specs = config.sections.credentials.credentials
    if not any(s.env for s in specs):
        return {}
    who = actor or config.identity.default_actor
    ph = placeholders(config)
    env: dict[str, str] = {}
    for spec in specs:
        if spec.allows(who):
            env.update(ph.env(spec, who))
    return env


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Add `credentials` to the main CLI."""

    @main.group(name="credentials")
    def credentials_group() -> None:
        """The credential vault: agents hold placeholders, the proxy injects the real values."""

    @credentials_group.command(name="list")
    @proxy_options
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per credential, in a list.")
    def credentials_list(as_json: bool, **kwargs: Any) -> None:
        """Names, hosts, actors and whether each value resolves now (values are never shown)."""
        config = load(kwargs)
        rows: list[dict[str, Any]] = []
        for spec in config.sections.credentials.credentials:
            problem = None
            try:
                Vault.real(spec, ValueSource(spec.name, spec.source).resolve())
            except (ResolveError, ValueError) as exc:
                problem = str(exc)
            rows.append(
                {
                    "name": spec.name,
                    "hosts": list(spec.hosts),
                    "placement": spec.kind,
                    "source": spec.source.describe(),
                    "actors": list(spec.actors) or None,
                    "env": list(spec.env),
                    "resolves": problem is None,
                    "problem": problem,
                }
            )
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            actors = ",".join(row["actors"] or ["(any)"])
            state = "yes" if row["resolves"] else f"NO ({row['problem']})"
            click.echo(f"{row['name']:<20} hosts={','.join(row['hosts'])} actors={actors} resolves={state}")

    @credentials_group.command(name="placeholder")
    @proxy_options
    @click.argument("name")
    @click.option("--actor", help="The actor who holds it (default: identity.default_actor).")
    def credentials_placeholder(name: str, actor: str | None, **kwargs: Any) -> None:
        """Print the placeholder an actor holds for credential NAME (aws_sigv4: KEY_ID:SECRET)."""
        config = load(kwargs)
        spec = config.sections.credentials.get(name)
        if spec is None:
            known = ", ".join(c.name for c in config.sections.credentials.credentials) or "none configured"
            raise click.ClickException(f"no credential {name!r}; credentials: {known}")
        who = actor or config.identity.default_actor
        if not spec.allows(who):
            raise click.ClickException(
                f"actor {who!r} may not use credential {name} (actors: {', '.join(spec.actors)})"
            )
        try:
            click.echo(placeholders(config).key(spec, who))
        except PalarynError as exc:
            raise click.ClickException(str(exc)) from None
