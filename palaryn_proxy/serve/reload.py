"""The one reload path (SIGHUP, and a changed policy pack file): re-read the config and the packs, and swap what
can change at runtime in one step; an invalid file or pack keeps the old config."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

from palaryn_proxy import sections
from palaryn_proxy.config import Config, load_config
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.hostmatch import HostMatcher
from palaryn_proxy.identity import IdentityResolver

log = logging.getLogger("palaryn")

RELOADABLE = ("block_domains", "passthrough_hosts", "identity")
# Keys a `run` flag may have set: they keep their running values (they need a restart anyway).
FROM_FLAGS = ("listen", "mode", "certs_dir", "audit_log", "metrics_listen", "policy_packs")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    error: str = ""


def read_new(current: Config) -> Config:
    """Load the file the proxy started with (blocking I/O: run it off the event loop)."""
    if current.source is None:  # flags and defaults only: the packs are all there is to read again
        return replace(current, sections=sections.parse(current.values, None))
    return load_config(current.source, {k: current.values[k] for k in FROM_FLAGS})


def apply(runtime: Any, new: Config) -> ReloadResult:
    """Build the new matchers and resolver first, then swap them in one synchronous step (flows see the old
    set or the new one, never a mix). Keys that need a restart keep their old values and are named."""
    old = runtime.config
    changed = [k for k in new.values if new.values[k] != old.values.get(k)]
    applied = tuple(k for k in changed if k in RELOADABLE)
    later = tuple(k for k in changed if k not in RELOADABLE and k not in FROM_FLAGS)
    values = {**old.values, **{k: new.values[k] for k in RELOADABLE}}
    merged = Config(
        values=values,
        source=new.source,
        identity=new.identity,
        audit_options=old.audit_options,  # audit and client_timeouts take effect on restart
        client_timeout=old.client_timeout,
        sections=replace(old.sections, policy=new.sections.policy),  # packs are re-read; the rest waits
    )
    identity = IdentityResolver(merged.identity)
    block = HostMatcher(merged.block_domains)
    passthrough = HostMatcher(merged.passthrough_hosts)
    runtime.config, runtime.identity = merged, identity
    runtime.block_domains, runtime.passthrough = block, passthrough
    policy = runtime.stages.get("policy")
    if policy is not None:
        policy.engine = merged.sections.policy
    return ReloadResult(True, applied, later)


async def reload(runtime: Any, what: str = "config") -> ReloadResult:
    """Read off the loop, validate, swap on the loop, log the outcome. `what` names the cause in the log:
    "config" (SIGHUP) or "policy" (a pack file changed)."""
    loop = asyncio.get_running_loop()
    try:
        new = await loop.run_in_executor(None, read_new, runtime.config)
    except PalarynError as exc:
        log.error("%s reload failed, keeping the running configuration: %s", what, exc)
        return ReloadResult(False, error=str(exc))
    result = apply(runtime, new)
    vault = runtime.stages.get("credentials")
    if vault:  # every credential value is read again (a failure keeps the previous value)
        await loop.run_in_executor(None, vault.refresh)
    log.warning("%s reloaded: %d policy pack(s)", what, len(new.sections.policy.packs))
    log.info(
        "config reloaded from %s: applied %s", new.source, ", ".join(result.applied) or "(nothing changed)"
    )
    if result.needs_restart:
        log.warning(
            "config reload: %s changed but take effect only after a restart", ", ".join(result.needs_restart)
        )
    return result
