"""The SSRF stage: internal destinations refused (403) with their address class, the checked address is the one
dialled (`server_connect`), and a Host that differs from the tunnel's SNI is refused (domain fronting)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flowkit import Harness, error_of, flow, state
from mitmproxy import connection
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow

OVERRIDES = {"resolve_overrides": {"private-alias.test": "10.1.2.3:80", "public.test": "93.184.216.34:443"}}


def guarded(harness: Callable[..., Harness]) -> Harness:
    return harness({"ssrf": {"enabled": True}, **OVERRIDES})


def connect_data(host: str, port: int, tls: bool = False) -> ServerConnectionHookData:
    server = connection.Server(address=(host, port))
    server.tls = tls
    return ServerConnectionHookData(server=server, client=tflow.tclient_conn())


@pytest.mark.parametrize(
    ("url", "cls"),
    [
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.0.0.1/", "private"),
        ("http://private-alias.test/", "private"),  # a name pinned by resolve_overrides is checked too
    ],
)
async def test_internal_destination_is_refused_with_its_class(
    harness: Callable[..., Harness], url: str, cls: str
) -> None:
    h = guarded(harness)
    f = flow(url)
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    assert f.response.headers["x-palaryn-decision"] == "deny"
    assert error_of(f)["code"] == f"ssrf_{cls}" and h.upstream_saw == []
    assert state(f).reasons[-1].rule == f"ssrf:{cls}"


async def test_with_the_guard_off_internal_addresses_pass(harness: Callable[..., Harness]) -> None:
    h = harness({"ssrf": {"enabled": False}})
    f = flow("http://127.0.0.1:6379/")
    await h.send(f)
    assert f.response is not None and f.response.status_code == 200


async def test_the_checked_address_is_dialled_under_its_name(harness: Callable[..., Harness]) -> None:
    h = guarded(harness)
    f = flow("https://public.test/echo")
    await h.request_phase(f)
    assert f.response is None  # a public address: allowed
    data = connect_data("public.test", 443, tls=True)
    await h.hook("server_connect", data)
    assert data.server.address == ("93.184.216.34", 443) and data.server.error is None
    assert data.server.sni == "public.test"  # TLS still verifies the name, not the address
    await h.hook("server_connected", data)
    assert data.server.address == ("public.test", 443)  # found again by name for the next request


async def test_an_unchecked_connection_to_an_internal_address_is_refused_at_dial_time(
    harness: Callable[..., Harness],
) -> None:
    h = guarded(harness)
    data = connect_data("127.0.0.1", 22)  # e.g. a passthrough tunnel: no request was checked
    await h.hook("server_connect", data)
    assert data.server.error is not None and "SSRF" in data.server.error and "loopback" in data.server.error
    public = connect_data("93.184.216.34", 443)
    await h.hook("server_connect", public)
    assert public.server.error is None


async def test_host_differing_from_the_tunnels_sni_is_refused(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/echo")
    f.client_conn.sni = "innocent.test"  # the TLS tunnel named another host
    await h.send(f)
    assert f.response is not None and f.response.status_code == 403
    assert error_of(f)["code"] == "destination_mismatch" and h.upstream_saw == []
    unbound = harness({"destination_binding": False})
    g = flow("https://upstream.test/echo")
    g.client_conn.sni = "innocent.test"
    await unbound.send(g)
    assert g.response is not None and g.response.status_code == 200
