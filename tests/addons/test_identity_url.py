"""host_and_url: the identity stage's one-parse twin of mitmproxy's pretty_host / pretty_url."""

from __future__ import annotations

import pytest
from mitmproxy.test import tutils

from palaryn_proxy.addons.identity import host_and_url


@pytest.mark.parametrize(
    ("host_header", "scheme", "port", "path"),
    [
        ("api.example.com", "https", 443, "/v1/chat?b=1"),
        ("api.example.com:8443", "https", 8443, "/"),
        ("[::1]:80", "http", 80, "*"),
        (None, "https", 443, "/p"),
        ("h:80", "https", 443, "/p"),
        ("H.EXAMPLE.com", "http", 80, "/"),
        ("x.com", "http", 8080, "/"),
    ],
)
def test_matches_mitmproxy(host_header: str | None, scheme: str, port: int, path: str) -> None:
    req = tutils.treq(host="10.1.2.3", port=port, scheme=scheme.encode(), path=path.encode())
    req.headers.pop("host", None)
    if host_header is not None:
        req.headers["host"] = host_header
    assert host_and_url(req) == (req.pretty_host, req.pretty_url)
