"""TLS watch: records client handshakes refused by the client (pinning, mutual TLS) for `palaryn-proxy doctor`."""

from __future__ import annotations

from mitmproxy import tls

from palaryn_proxy.addons._flow import guarded
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.tls import TlsFailureLog


class TlsWatchStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.failures = TlsFailureLog()
        runtime.stages["tls_failures"] = self.failures  # served as /tls-failures on the metrics listener

    @guarded("tlswatch")  # there is no flow to refuse: a failure here is only logged and counted
    def tls_failed_client(self, data: tls.TlsData) -> None:
        server = data.context.server.address
        host = data.context.client.sni or (str(server[0]) if server else "")
        reason = self.failures.record(host, str(data.conn.error or "handshake failed"))
        self.runtime.metrics.tls_client_failures.labels(reason).inc()
