"""Client-side failures as values: malformed requests (400), non-HTTP URL schemes (400, deny), slow clients (408).

Pure data and parsing; addons/_httpguard.py and addons/_clientguard.py find these in mitmproxy's HTTP layers,
answer them with `refusals.render` and audit each one as decision `error` (or `deny`) with a `client` reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from palaryn_proxy.classify import capability_for
from palaryn_proxy.types import Decision, FlowState, Identity, Reason, Verdict

STAGE = "client"
HEAD_LIMIT = 64 * 1024  # bytes of request line and headers; mitmproxy itself sets no limit
PROXIED_SCHEMES = (b"http", b"https")

# rule -> (status, decision, the JSON body's `code`)
_RULES: dict[str, tuple[int, Decision, str]] = {
    "bad_request": (400, Decision.ERROR, "bad_request"),
    "headers_too_large": (400, Decision.ERROR, "bad_request"),
    "header_timeout": (408, Decision.ERROR, "request_timeout"),
    "body_timeout": (408, Decision.ERROR, "request_timeout"),
    "unsupported_scheme": (400, Decision.DENY, "unsupported_scheme"),
}
# How a client error travels through mitmproxy's protocol-error events (a message string) and back.
_TAG = "palaryn client error "
_TAGGED = re.compile(re.escape(_TAG) + r"\((\w+)\): (.*)", re.DOTALL)
# mitmproxy's own messages for requests its HTTP stream refuses (proxy/layers/http/__init__.py).
_SCHEME = re.compile(r"Invalid request scheme: (\S+)")
_SMUGGLING = re.compile(r"Received (.+) from client, refusing to prevent request smuggling", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ClientError:
    rule: str
    message: str

    @property
    def status(self) -> int:
        return _RULES[self.rule][0]

    @property
    def decision(self) -> Decision:
        return _RULES[self.rule][1]

    @property
    def code(self) -> str:
        return _RULES[self.rule][2]

    @property
    def reason(self) -> Reason:
        return Reason(STAGE, self.rule, self.message)

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.decision, self.reason, status=self.status)

    def tagged(self) -> str:
        """The message of the protocol-error event that carries this error to the flow's error hook."""
        return f"{_TAG}({self.rule}): {self.message}"


def bad_request(detail: str) -> ClientError:
    return ClientError("bad_request", f"malformed request: {detail}")


def headers_too_large(limit: int = HEAD_LIMIT) -> ClientError:
    return ClientError("headers_too_large", f"malformed request: headers larger than {limit // 1024} KiB")


def header_timeout(seconds: float) -> ClientError:
    return ClientError("header_timeout", f"the request headers did not arrive within {seconds:g}s")


def body_timeout(seconds: float) -> ClientError:
    return ClientError("body_timeout", f"the request body did not arrive within {seconds:g}s")


def unsupported_scheme(scheme: str) -> ClientError:
    return ClientError(
        "unsupported_scheme", f"{scheme}:// URLs are not proxied; only http:// and https:// are"
    )


def classify(message: str) -> ClientError | None:
    """The client error behind a flow's error message, or None (upstream failures, disconnects, kills)."""
    if message.startswith(_TAG):
        match = _TAGGED.fullmatch(message)
        if match is not None and match[1] in _RULES:
            return ClientError(match[1], match[2])
        return bad_request(message[len(_TAG) :])
    if match := _SCHEME.match(message):
        return unsupported_scheme(match[1])
    if match := _SMUGGLING.match(message):
        return bad_request(match[1])
    if message.startswith("mitmproxy received an HTTP CONNECT request"):
        return bad_request("CONNECT is accepted only by the regular proxy listener")
    return None


def refused_scheme(request_line: bytes) -> ClientError | None:
    """An absolute-form request for anything but http(s) (gopher://, ftp://, file://, ws://), else None."""
    parts = request_line.split()
    if len(parts) != 3 or parts[0] == b"CONNECT":
        return None
    scheme, sep, _ = parts[1].partition(b"://")
    if not sep or parts[1][:1] == b"/" or scheme.lower() in PROXIED_SCHEMES:
        return None
    return unsupported_scheme(scheme.lower().decode("ascii", "replace"))


def unfold(lines: list[bytes]) -> list[bytes]:
    """Replace obsolete line folding (RFC 9112 5.2) by one space: a header line that starts with SP or HT
    continues the previous header's value. A continuation right after the request line is left as it is,
    for the parser to refuse (400)."""
    if not any(line[:1] in (b" ", b"\t") for line in lines[2:]):
        return lines
    out = lines[:2]
    for line in lines[2:]:
        if line[:1] in (b" ", b"\t"):
            out[-1] = out[-1].rstrip(b" \t") + b" " + line.strip(b" \t")
        else:
            out.append(line)
    return out


def request_line_parts(request_line: bytes) -> tuple[str, str]:
    """Best-effort (method, target) of a request line that may not parse, for the audit record."""
    parts = request_line.split()
    method = parts[0].decode("ascii", "replace")[:16] if parts else ""
    target = parts[1].decode("ascii", "replace")[:2048] if len(parts) > 1 else ""
    return method, target


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # an unparseable authority ("http://[::1/")
        return ""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refused_state(
    request_id: str,
    identity: Identity,
    client: str,
    method: str,
    url: str,
    error: ClientError,
    started: float | None = None,
) -> FlowState:
    """The audit state of a request refused before it became a flow (no pipeline stage saw it)."""
    state = FlowState(
        request_id=request_id,
        started=time.monotonic() if started is None else started,
        ts=_now_iso(),
        identity=identity,
        client=client,
        method=method,
        url=url,
        host=_host(url),
        capability=capability_for(method),
    )
    state.refuse(error.verdict)
    state.status = error.status
    return state
