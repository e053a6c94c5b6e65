"""SSRF stage engine: normalise the host, resolve it once, refuse internal address classes, return the IP to dial."""

from palaryn_proxy.ssrf.guard import SsrfConfig, SsrfGuard, SsrfVerdict, normalize_host

__all__ = ["SsrfConfig", "SsrfGuard", "SsrfVerdict", "normalize_host"]
