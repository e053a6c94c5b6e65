"""Entry point for `mitmdump -s addons/palaryn_pipeline.py`: the full palaryn pipeline inside plain mitmproxy.

Config comes from $PALARYN_CONFIG or ./palaryn.yaml (the same file `palaryn-proxy run` reads).
"""

from __future__ import annotations

from mitmproxy import ctx

from palaryn_proxy.addons import pipeline
from palaryn_proxy.config import load_config
from palaryn_proxy.runtime import Runtime


class PalarynBootstrap:
    """Applies the options palaryn relies on and closes the audit log when mitmproxy stops."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def running(self) -> None:
        # A blocked request must never reach the upstream: connect upstream only after the request hooks.
        ctx.options.update(connection_strategy="lazy")

    def done(self) -> None:
        self.runtime.close()


_runtime = Runtime.build(load_config())
addons = [*pipeline(_runtime), PalarynBootstrap(_runtime)]
