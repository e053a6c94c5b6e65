"""SSRF guard: normalise the host, resolve it once, refuse internal address classes and return the IP to dial."""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A resolver returns the addresses of a host as strings; tests inject their own, production uses getaddrinfo.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Host names that always mean a cloud metadata service, whatever they resolve to.
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)

# First match wins: metadata endpoints before the broader ranges that contain them.
_V4_CLASSES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), name)
    for net, name in (
        ("169.254.169.254/32", "metadata"),  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        ("169.254.170.2/32", "metadata"),  # AWS ECS task metadata
        ("100.100.100.200/32", "metadata"),  # Alibaba Cloud
        ("168.63.129.16/32", "metadata"),  # Azure wire server
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "cgnat"),
        ("169.254.0.0/16", "link_local"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_CLASSES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in (
        ("fd00:ec2::254/128", "metadata"),  # AWS IMDS over IPv6
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link_local"),
        ("fec0::/10", "private"),  # deprecated site-local
        ("fc00::/7", "unique_local"),
        ("ff00::/8", "multicast"),
        ("100::/64", "reserved"),
        ("2001:db8::/32", "reserved"),
        ("64:ff9b:1::/48", "private"),  # local-use NAT64
    )
)
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_COMPAT = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_PART = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\Z")
_HOST_GLOB = re.compile(r"[a-z0-9.*?_-]+\Z")


def _parse_number(part: str) -> int | None:
    """One inet_aton component: 0x hex, 0-prefixed octal, or decimal."""
    if not _NUMERIC_PART.match(part):
        return None
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 in any notation inet_aton accepts: 127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1 ..."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    return ipaddress.IPv4Address(value * 256 ** (5 - len(values)) + last)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes if it is an IP literal in any notation, else None."""
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _parse_inet_aton(text) if text else None


def normalize_host(host: str) -> str:
    """Lower-case, strip brackets and the trailing dot, and write IP literals in their canonical form."""
    ip = parse_ip_literal(host)
    if ip is not None:
        return str(ip)
    return host.strip().lower().rstrip(".")


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4) and how it carries it."""
    if ip in _V4_MAPPED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "ipv4_mapped"
    if ip in _V4_COMPAT:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "ipv4_compatible"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "nat64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def address_class(ip: IPAddress) -> str | None:
    """The internal address class of `ip` (loopback, private, metadata, ...) or None for a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        for net, name in _V4_CLASSES:
            if ip in net:
                return name
        return None if ip.is_global else "reserved"
    for net6, name in _V6_CLASSES:
        if ip in net6:
            return name
    embedded = _embedded_v4(ip)
    if embedded is not None:
        inner, how = embedded
        inner_class = address_class(inner)
        if inner_class is not None:
            return inner_class
        # Mapped and compatible forms have no legitimate use on the wire: refuse them even for public IPv4.
        return how if how in ("ipv4_mapped", "ipv4_compatible") else None
    return None if ip.is_global else "reserved"


def _compile_globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _split_entries(key: str, raw: Any) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """Split a list of CIDRs and host globs into networks and lower-cased globs."""
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise ConfigError(f"ssrf.{key}: expected a list of CIDRs and host globs, got {type(raw).__name__}")
    nets: list[IPNetwork] = []
    globs: list[str] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(f"ssrf.{key}[{i}]: expected a CIDR or host glob string, got {entry!r}")
        text = entry.strip().lower()
        try:
            nets.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOST_GLOB.match(text.rstrip(".")):
            raise ConfigError(
                f"ssrf.{key}[{i}]: {entry!r} is neither a CIDR (10.0.0.0/8) nor a host glob (*.corp.example)"
            )
        globs.append(text.rstrip("."))
    return tuple(nets), tuple(globs)


def _static_hosts(raw: Mapping[str, str | Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, value in (raw or {}).items():
        values = [value] if isinstance(value, str) else list(value)
        try:
            out[normalize_host(name)] = tuple(str(ipaddress.ip_address(v.strip("[]"))) for v in values)
        except ValueError:
            raise ConfigError(
                f"static host {name!r}: {value!r} is not an IP address (or list of them)"
            ) from None
    return out


def _strip_port(entry: str) -> str:
    """HOST[:PORT] -> HOST, for adapter hosts given with a port ([::1]:8000, localhost:11434)."""
    if entry.startswith("[") and "]" in entry:
        return entry[1 : entry.index("]")]
    host, sep, port = entry.rpartition(":")
    return host if sep and host and ":" not in host and port.isdigit() else entry


_SSRF_KEYS = frozenset({"enabled", "allow", "deny", "dns_timeout_seconds", "dns_cache_seconds"})
LITERAL_MEMO_SIZE = 4096  # verdicts on IP literals kept (they depend only on the config)
DNS_CACHE_SIZE = 4096  # resolved names kept


@dataclass(frozen=True, slots=True)
class SsrfConfig:
    """Parsed `ssrf:` config section."""

    enabled: bool = True
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    deny_networks: tuple[IPNetwork, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    dns_timeout_seconds: float = 5.0
    # How long a resolved name's addresses are reused; 0 resolves every request.
    dns_cache_seconds: float = 30.0

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any] | None, *, extra_allow_hosts: Sequence[str] = ()
    ) -> SsrfConfig:
        """Parse the `ssrf` section; `extra_allow_hosts` (HOST[:PORT]) are hosts config gives to LLM adapters."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"ssrf: expected a mapping with keys {', '.join(sorted(_SSRF_KEYS))}")
        unknown = sorted(set(raw) - _SSRF_KEYS)
        if unknown:
            raise ConfigError(
                f"ssrf.{unknown[0]}: unknown key; valid keys are {', '.join(sorted(_SSRF_KEYS))}"
            )
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"ssrf.enabled: expected true or false, got {enabled!r}")
        timeout = raw.get("dns_timeout_seconds", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"ssrf.dns_timeout_seconds: expected a positive number, got {timeout!r}")
        cache = raw.get("dns_cache_seconds", 30.0)
        if isinstance(cache, bool) or not isinstance(cache, int | float) or cache < 0:
            raise ConfigError(
                f"ssrf.dns_cache_seconds: expected a number of seconds >= 0 (0 turns the cache off), got {cache!r}"
            )
        allow = raw.get("allow")
        allow_nets, allow_hosts = _split_entries("allow", allow)
        extra_nets, extra_hosts = _split_entries("allow", [_strip_port(h) for h in extra_allow_hosts])
        deny_nets, deny_hosts = _split_entries("deny", raw.get("deny"))
        return cls(
            enabled=enabled,
            allow_networks=allow_nets + extra_nets,
            allow_hosts=allow_hosts + extra_hosts,
            deny_networks=deny_nets,
            deny_hosts=deny_hosts,
            dns_timeout_seconds=float(timeout),
            dns_cache_seconds=float(cache),
        )


@dataclass(frozen=True, slots=True)
class SsrfVerdict:
    """Whether a destination may be dialled; `pinned_ip` is the checked address to connect to."""

    allowed: bool
    reason: str
    address_class: str | None = None
    pinned_ip: str | None = None
    addresses: tuple[str, ...] = ()


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (runs in the default executor, never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]
        if addr not in out:
            out.append(addr)
    return out


class SsrfGuard:
    """Decides on resolved addresses; compiled once from an SsrfConfig, immutable afterwards."""

    def __init__(
        self,
        config: SsrfConfig,
        resolver: Resolver | None = None,
        static_hosts: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        """`static_hosts` pins names to addresses without DNS (config `resolve_overrides`); still checked."""
        self.config = config
        self._resolver: Resolver = resolver or system_resolver
        self._static = _static_hosts(static_hosts)
        self._allow_hosts = _compile_globs(config.allow_hosts)
        self._deny_hosts = _compile_globs(config.deny_hosts)
        self._exact_allow = frozenset(h for h in config.allow_hosts if not any(c in h for c in "*?["))
        self._literal_verdicts: dict[str, SsrfVerdict] = {}
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}  # (name, port) -> (expiry, addrs)

    def _host_allowed(self, name: str) -> bool:
        return self._allow_hosts is not None and self._allow_hosts.match(name) is not None

    def check_ip(self, ip: IPAddress, host: str, *, host_allowed: bool = False) -> SsrfVerdict:
        """Judge one address that `host` resolved to (or that `host` is)."""
        if any(ip in net for net in self.config.deny_networks if net.version == ip.version):
            return _blocked("denied", ip, host)
        if any(ip in net for net in self.config.allow_networks if net.version == ip.version):
            return SsrfVerdict(True, f"address {ip} is in ssrf.allow", None, str(ip), (str(ip),))
        cls = address_class(ip)
        if cls is None or (host_allowed and cls != "metadata"):
            reason = "public address" if cls is None else "host in ssrf.allow"
            return SsrfVerdict(True, reason, None, str(ip), (str(ip),))
        return _blocked(cls, ip, host)

    def check_host(self, host: str) -> SsrfVerdict:
        """Check without DNS: IP literals are judged (and pinned); names pass with pinned_ip None unless
        they are metadata names or denied. Call resolve_and_check before connecting."""
        if not self.config.enabled:
            return SsrfVerdict(True, "ssrf guard disabled")
        known = self._literal_verdicts.get(host)
        if known is not None:
            return known
        name = normalize_host(host)
        ip = parse_ip_literal(name)
        if ip is not None:
            verdict = self.check_ip(ip, host)
            if len(self._literal_verdicts) >= LITERAL_MEMO_SIZE:
                self._literal_verdicts.clear()
            self._literal_verdicts[host] = verdict
            return verdict
        if not name:
            return SsrfVerdict(False, "ssrf: empty host", "invalid")
        if self._deny_hosts is not None and self._deny_hosts.match(name):
            return SsrfVerdict(False, f"ssrf: host {name!r} is in ssrf.deny", "denied")
        if name in METADATA_HOSTS and name not in self._exact_allow:
            return SsrfVerdict(False, f"ssrf: metadata host {name!r} refused", "metadata")
        return SsrfVerdict(True, "host name; resolve before connecting")

    async def _resolve(self, name: str, port: int) -> tuple[list[str], str | None]:
        static = self._static.get(name)
        if static is not None:
            return list(static), None
        now = time.monotonic()
        cached = self._answers.get((name, port))
        if cached is not None and cached[0] > now:
            return list(cached[1]), None
        try:
            addrs = await asyncio.wait_for(self._resolver(name, port), self.config.dns_timeout_seconds)
        except TimeoutError:
            return [], f"DNS lookup for {name!r} timed out"
        except OSError as exc:  # socket.gaierror is an OSError
            return [], f"DNS lookup for {name!r} failed: {exc.strerror or exc}"
        except ValueError as exc:  # IDNA UnicodeError for empty or long labels, NUL in the name
            return [], f"host name {name!r} cannot be resolved: {exc}"
        if self.config.dns_cache_seconds > 0 and addrs:
            if len(self._answers) >= DNS_CACHE_SIZE:
                self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
                if len(self._answers) >= DNS_CACHE_SIZE:
                    self._answers.clear()
            self._answers[(name, port)] = (now + self.config.dns_cache_seconds, list(addrs))
        return list(addrs), None

    async def resolve_and_check(self, host: str, port: int) -> SsrfVerdict:
        """Resolve once, check every address, and return the first one as `pinned_ip` to dial."""
        verdict = self.check_host(host)
        if not verdict.allowed or not self.config.enabled or verdict.pinned_ip is not None:
            return verdict
        name = normalize_host(host)
        addrs, error = await self._resolve(name, port)
        if error is not None or not addrs:
            return SsrfVerdict(False, f"ssrf: {error or f'no address for {name!r}'}", "dns_error")
        host_allowed = self._host_allowed(name)
        for addr in addrs:
            ip = parse_ip_literal(addr)
            if ip is None:
                return SsrfVerdict(False, f"ssrf: resolver returned a non-address {addr!r}", "dns_error")
            one = self.check_ip(ip, name, host_allowed=host_allowed)
            if not one.allowed:
                return SsrfVerdict(False, one.reason, one.address_class, None, tuple(addrs))
        return SsrfVerdict(True, "all resolved addresses allowed", None, addrs[0], tuple(addrs))


def _blocked(cls: str, ip: IPAddress, host: str) -> SsrfVerdict:
    return SsrfVerdict(False, f"ssrf: {cls} address {ip} (host {host!r}) refused", cls, None, (str(ip),))
