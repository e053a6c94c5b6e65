"""One mitmproxy addon that runs every stage in order: mitmproxy then dispatches each hook once, not per stage.

mitmproxy's AddonManager looks each hook up on every addon, through a context manager, for every event and
again for the `update` event that follows it; with a dozen stages that bookkeeping cost more than some
stages. Semantics are mitmproxy's own: stages run in list order, coroutines are awaited before the next
stage runs, and an exception in one stage is logged and does not stop the stages after it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, hooks  # noqa: F401 - addonmanager defines the load/configure/done hooks
from mitmproxy.proxy import mode_servers  # noqa: F401 - imports every layer, which defines the flow hooks

log = logging.getLogger("mitmproxy.addonmanager")  # where mitmproxy's own "Addon error" lines go

Handler = Callable[..., Any]


class Pipeline:
    """Exposes, for each mitmproxy hook some stage implements, one method calling those stages in order."""

    def __init__(self, stages: list[Any]) -> None:
        self.stages = stages
        for name in hooks.all_hooks:
            handlers = [fn for fn in (getattr(s, name, None) for s in stages) if callable(fn)]
            if handlers:
                setattr(self, name, _dispatcher(name, handlers))


def _dispatcher(name: str, handlers: list[Handler]) -> Handler:
    """A sync method when every handler is sync (mitmproxy calls load/configure synchronously), else async."""
    if not any(inspect.iscoroutinefunction(fn) for fn in handlers):

        def run_sync(*args: Any) -> None:
            for fn in handlers:
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001 - as mitmproxy's safecall: log, go on
                    _log_error(name, fn, exc)

        return run_sync

    async def run(*args: Any) -> None:
        for fn in handlers:
            try:
                result = fn(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - as mitmproxy's safecall: log, go on
                _log_error(name, fn, exc)

    return run


def _log_error(hook: str, fn: Handler, exc: Exception) -> None:
    owner = type(getattr(fn, "__self__", fn)).__name__
    log.error("Addon error in %s.%s: %s", owner, hook, exc, exc_info=exc)


__all__ = ["Pipeline"]
