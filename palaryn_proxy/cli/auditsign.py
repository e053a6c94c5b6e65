"""`audit pubkey` and the checkpoint half of `audit verify`: the signing key of the audit checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from palaryn_proxy.audit.checkpoint import verify_checkpoints
from palaryn_proxy.audit.log import VerifyResult
from palaryn_proxy.audit.signing import load_or_create_key, load_public_key, public_pem
from palaryn_proxy.errors import AuditError


def verify_with_checkpoints(files: tuple[str, ...], checkpoints: str, pubkey: str) -> VerifyResult:
    try:
        public = load_public_key(pubkey)
    except (AuditError, OSError) as exc:
        raise click.ClickException(f"--pubkey: {exc}") from None
    return verify_checkpoints(files, checkpoints, public)


def register(audit_group: click.Group, load: Callable[[dict[str, Any]], Any], proxy_options: Any) -> None:
    @audit_group.command(name="pubkey")
    @proxy_options
    def audit_pubkey(**kwargs: Any) -> None:
        """Print the public key (PEM) of audit.signing_key, creating the key if it does not exist yet."""
        config = load(kwargs)
        path = config.audit_options.signing_key
        if path is None:
            raise click.ClickException("audit.signing_key is not set: checkpoints are off")
        try:
            click.echo(public_pem(load_or_create_key(path)), nl=False)
        except AuditError as exc:
            raise click.ClickException(str(exc)) from None
