"""SSRF guard: address classes, IP notations, allow/deny config, resolution and pinning."""

import asyncio
import ipaddress
from collections.abc import Sequence

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.ssrf.guard import SsrfConfig, SsrfGuard, address_class, normalize_host, parse_ip_literal

BLOCKED_LITERALS = [
    # (host as written, address class)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("127.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    ("0x7f.0.0.1", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("017700000001", "loopback"),
    ("0x7F.0x0.0x0.0x1", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("[::1]", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("[::ffff:7f00:1]", "loopback"),
    ("::127.0.0.1", "loopback"),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("2002:7f00:1::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("[::]", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("0xc0a80101", "private"),
    ("3232235777", "private"),
    ("::ffff:10.1.2.3", "private"),
    ("fec0::1", "private"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("169.254.1.1", "link_local"),
    ("fe80::1", "link_local"),
    ("[fe80::1%25eth0]", "link_local"),
    ("169.254.169.254", "metadata"),
    ("0xa9fea9fe", "metadata"),
    ("2852039166", "metadata"),
    ("0251.0376.0251.0376", "metadata"),
    ("169.254.43518", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("fc00::1", "unique_local"),
    ("fd12:3456::1", "unique_local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("198.51.100.7", "reserved"),
    ("203.0.113.9", "reserved"),
    ("192.0.0.8", "reserved"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    ("::ffff:8.8.8.8", "ipv4_mapped"),
    ("::8.8.8.8", "ipv4_compatible"),
]
PUBLIC_LITERALS = ["8.8.8.8", "1.1.1.1", "134744072", "0x8080808", "2606:4700:4700::1111", "64:ff9b::8.8.8.8"]


def guard(resolver=None, **raw) -> SsrfGuard:
    return SsrfGuard(SsrfConfig.from_mapping(raw), resolver)


def static(*addresses: str):
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(("host", "cls"), BLOCKED_LITERALS)
async def test_blocked_literals(host: str, cls: str):
    g = guard()
    verdict = g.check_host(host)
    assert not verdict.allowed and verdict.address_class == cls, verdict
    assert cls in verdict.reason
    resolved = await g.resolve_and_check(host, 80)
    assert not resolved.allowed and resolved.address_class == cls and resolved.pinned_ip is None


@pytest.mark.parametrize("host", PUBLIC_LITERALS)
async def test_public_literals_are_allowed_and_pinned_canonically(host: str):
    verdict = await guard().resolve_and_check(host, 443)
    assert verdict.allowed
    assert verdict.pinned_ip == str(ipaddress.ip_address(verdict.pinned_ip))
    assert parse_ip_literal(host) == ipaddress.ip_address(verdict.pinned_ip)


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "256.1.1.1", "08.1.1.1", "4294967296", "example.com", "1.2.3.x", ""]
)
def test_non_literals_are_not_parsed_as_addresses(host: str):
    assert parse_ip_literal(host) is None


def test_normalize_host():
    assert normalize_host("API.Example.COM.") == "api.example.com"
    assert normalize_host("0x7f.1") == "127.0.0.1"
    # The text form of IPv4-mapped addresses differs between Python versions; the address must not.
    assert ipaddress.ip_address(normalize_host("[::FFFF:127.0.0.1]")) == ipaddress.ip_address("::ffff:7f00:1")


def test_address_class_of_public_addresses_is_none():
    assert address_class(ipaddress.ip_address("93.184.216.34")) is None
    assert address_class(ipaddress.ip_address("2a00:1450:4001::1")) is None


async def test_name_resolving_to_loopback_is_refused_with_the_real_resolver():
    # 'localhost' resolves through the system resolver (/etc/hosts) without network.
    g = guard(allow=["localhost.example"])  # unrelated allow entry; localhost itself stays refused
    verdict = await g.resolve_and_check("localhost", 80)
    assert not verdict.allowed and verdict.address_class == "loopback"


async def test_name_resolving_to_private_address_is_refused():
    verdict = await guard(static("93.184.216.34", "10.0.0.5")).resolve_and_check("rebind.example", 443)
    assert not verdict.allowed and verdict.address_class == "private"
    assert "10.0.0.5" in verdict.reason and verdict.pinned_ip is None
    assert verdict.addresses == ("93.184.216.34", "10.0.0.5")


async def test_public_name_is_pinned_to_the_checked_address():
    calls: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    verdict = await guard(resolver).resolve_and_check("Example.COM.", 443)
    assert verdict.allowed and verdict.pinned_ip == "93.184.216.34"
    assert calls == [("example.com", 443)]


async def test_allow_cidrs_open_loopback_for_test_upstreams():
    g = guard(allow=["127.0.0.1/32", "::1"])
    assert (await g.resolve_and_check("127.0.0.1", 8080)).pinned_ip == "127.0.0.1"
    assert (await g.resolve_and_check("[::1]", 8080)).pinned_ip == "::1"
    assert not (await g.resolve_and_check("127.0.0.2", 8080)).allowed
    with_localhost = guard(allow=["127.0.0.0/8", "::1/128"])
    verdict = await with_localhost.resolve_and_check("localhost", 8080)
    assert verdict.allowed and verdict.pinned_ip in ("127.0.0.1", "::1")
    assert (await guard(static("127.0.0.1"), allow=["127.0.0.0/8"]).resolve_and_check("up.test", 1)).allowed


async def test_allow_host_globs_open_named_internal_services():
    g = guard(static("10.1.2.3"), allow=["*.corp.example"])
    verdict = await g.resolve_and_check("wiki.corp.example", 443)
    assert verdict.allowed and verdict.pinned_ip == "10.1.2.3"
    assert not (await g.resolve_and_check("corp.example.evil.io", 443)).allowed


async def test_host_allow_never_opens_metadata_addresses():
    g = guard(static("169.254.169.254"), allow=["*.corp.example"])
    verdict = await g.resolve_and_check("meta.corp.example", 80)
    assert not verdict.allowed and verdict.address_class == "metadata"


async def test_metadata_host_names_are_refused_without_dns():
    async def must_not_resolve(host: str, port: int) -> list[str]:
        raise AssertionError("metadata names must be refused before DNS")

    g = guard(must_not_resolve)
    for host in ("metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog", "metadata"):
        verdict = await g.resolve_and_check(host, 80)
        assert not verdict.allowed and verdict.address_class == "metadata", host


async def test_extra_allow_hosts_for_llm_adapters():
    extra = ["ollama.local:11434", "192.168.5.0/24", "[fd00::5]:8000", "vllm.local"]
    config = SsrfConfig.from_mapping({}, extra_allow_hosts=extra)
    g = SsrfGuard(config, static("192.168.1.20"))
    assert (await g.resolve_and_check("ollama.local", 11434)).allowed
    assert (await g.resolve_and_check("vllm.local", 8000)).allowed
    assert (await g.resolve_and_check("[fd00::5]", 8000)).allowed
    assert (await g.resolve_and_check("192.168.5.9", 8000)).allowed
    assert not (await g.resolve_and_check("other.local", 11434)).allowed


async def test_deny_entries_beat_allow_and_public():
    g = guard(
        static("93.184.216.34"), allow=["93.184.216.0/24"], deny=["93.184.216.34/32", "*.blocked.example"]
    )
    assert (await g.resolve_and_check("a.example", 443)).address_class == "denied"
    assert g.check_host("x.blocked.example").address_class == "denied"


async def test_static_hosts_are_checked_too():
    g = SsrfGuard(SsrfConfig(), static_hosts={"upstream.test": "127.0.0.1", "Pub.Test.": ["8.8.4.4"]})
    assert (await g.resolve_and_check("upstream.test", 80)).address_class == "loopback"
    assert (await g.resolve_and_check("pub.test", 80)).pinned_ip == "8.8.4.4"
    config = SsrfConfig.from_mapping({"allow": ["127.0.0.1/32"]})
    allowed = SsrfGuard(config, static_hosts={"upstream.test": "127.0.0.1"})
    assert (await allowed.resolve_and_check("upstream.test", 80)).pinned_ip == "127.0.0.1"
    with pytest.raises(ConfigError, match="static host 'x.test'"):
        SsrfGuard(config, static_hosts={"x.test": "nope"})


async def test_dns_failures_and_timeouts_are_refused():
    async def fails(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.sleep(30)
        return []

    failed = await guard(fails).resolve_and_check("nx.example", 443)
    assert not failed.allowed and failed.address_class == "dns_error" and "Name or service" in failed.reason
    timed_out = await guard(hangs, dns_timeout_seconds=0.05).resolve_and_check("slow.example", 443)
    assert not timed_out.allowed and "timed out" in timed_out.reason
    empty = await guard(static()).resolve_and_check("empty.example", 443)
    assert not empty.allowed and empty.address_class == "dns_error"


@pytest.mark.parametrize("host", ["a..b", "x" * 70 + ".example", "bad\x00host"])
async def test_unresolvable_names_are_refused_by_the_real_resolver(host: str):
    # These fail inside getaddrinfo/IDNA before any network traffic.
    verdict = await guard().resolve_and_check(host, 443)
    assert not verdict.allowed and verdict.address_class == "dns_error"


@pytest.mark.parametrize("host", ["", " ", "."])
async def test_empty_host_is_refused(host: str):
    verdict = await guard(static("8.8.8.8")).resolve_and_check(host, 443)
    assert not verdict.allowed and verdict.address_class == "invalid"


async def test_disabled_guard_allows_everything_without_pinning():
    g = guard(enabled=False)
    verdict = await g.resolve_and_check("169.254.169.254", 80)
    assert verdict.allowed and verdict.pinned_ip is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"enabled": "yes"}, "ssrf.enabled: expected true or false"),
        ({"allow": "127.0.0.1/32"}, "ssrf.allow: expected a list"),
        ({"allow": ["not a host!"]}, "ssrf.allow[0]: 'not a host!' is neither a CIDR"),
        ({"allow": [None]}, "ssrf.allow[0]: expected a CIDR or host glob string"),
        ({"deny": ["10.0.0.0/33"]}, "ssrf.deny[0]"),
        ({"hosts": {"a.test": "127.0.0.1"}}, "ssrf.hosts: unknown key"),
        ({"allow_cidrs": []}, "ssrf.allow_cidrs: unknown key"),
        ({"dns_timeout_seconds": 0}, "ssrf.dns_timeout_seconds: expected a positive number"),
        ({"dns_cache_seconds": -1}, "ssrf.dns_cache_seconds: expected a number of seconds >= 0"),
    ],
)
def test_config_errors_name_the_key(raw: dict, fragment: str):
    with pytest.raises(ConfigError) as exc:
        SsrfConfig.from_mapping(raw)
    assert fragment in str(exc.value)


def test_config_defaults():
    config = SsrfConfig.from_mapping(None)
    assert config.enabled and config.allow_networks == () and config.dns_timeout_seconds == 5.0
    assert config.dns_cache_seconds == 30.0


class CountingResolver:
    """Answers from a list that a test may change; counts the lookups."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.calls = list(answers), 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        if not self.answers:
            raise OSError("no answer")
        return list(self.answers)


async def test_answers_are_reused_for_dns_cache_seconds_then_resolved_again():
    resolver = CountingResolver("93.184.216.34")
    g = guard(resolver, dns_cache_seconds=0.2)
    for _ in range(3):
        assert (await g.resolve_and_check("example.com", 443)).pinned_ip == "93.184.216.34"
    assert resolver.calls == 1
    assert (await g.resolve_and_check("example.com", 80)).allowed and resolver.calls == 2  # per port
    resolver.answers = ["10.0.0.5"]  # the name moves to a private address: seen once the answer expires
    await asyncio.sleep(0.25)
    refused = await g.resolve_and_check("example.com", 443)
    assert not refused.allowed and refused.address_class == "private" and resolver.calls == 3


async def test_failures_are_not_cached_and_zero_turns_the_cache_off():
    resolver = CountingResolver()
    g = guard(resolver)
    assert not (await g.resolve_and_check("example.com", 443)).allowed
    resolver.answers = ["93.184.216.34"]
    assert (await g.resolve_and_check("example.com", 443)).allowed and resolver.calls == 2
    uncached = CountingResolver("93.184.216.34")
    g = guard(uncached, dns_cache_seconds=0)
    for _ in range(3):
        await g.resolve_and_check("example.com", 443)
    assert uncached.calls == 3


async def test_literal_verdicts_are_remembered_unchanged():
    g = guard(allow=["127.0.0.1"])
    first = [g.check_host(h) for h in ("127.0.0.1", "10.1.2.3", "0x7f.1")]
    again = [g.check_host(h) for h in ("127.0.0.1", "10.1.2.3", "0x7f.1")]
    assert first == again and [v.allowed for v in again] == [True, False, True]  # 0x7f.1 is 127.0.0.1
