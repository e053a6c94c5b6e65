"""Client guard: records requests the client got wrong (malformed, too slow, non-HTTP schemes) before they
became flows.

The HTTP guard (addons/_httpguard.py) answers those and records them here. Requests refused once they are
flows (mid-body, or by mitmproxy's own checks: both Transfer-Encoding and Content-Length, schemes over
HTTP/2) reach the flow's `error` hook, where the audit stage records them as the client's error. Either way:
decision `error` (`deny` for a scheme) with a `client` reason, answered 400 / 408, never counted as an
upstream failure.
"""

from __future__ import annotations

from mitmproxy import connection

from palaryn_proxy import clienterrors
from palaryn_proxy.addons._flow import elapsed
from palaryn_proxy.clienterrors import ClientError
from palaryn_proxy.config import ClientTimeouts
from palaryn_proxy.identity import new_request_id
from palaryn_proxy.runtime import Runtime


class ClientGuard:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @property
    def timeouts(self) -> ClientTimeouts:
        return self.runtime.config.client_timeout

    def refuse_unparsed(
        self, client: connection.Client, method: str, url: str, error: ClientError, started: float | None
    ) -> str:
        """Record a request refused before it became a flow (no stage saw it); returns its request id."""
        ip = str(client.peername[0]) if client.peername else ""
        request_id = new_request_id()
        identity = self.runtime.identity.resolve(None, {}, ip)
        state = clienterrors.refused_state(request_id, identity, ip, method, url, error, started)
        self.runtime.finish(state, elapsed(state))
        return request_id
