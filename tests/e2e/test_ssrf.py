"""The SSRF guard through the real proxy: a corpus of internal destinations in every notation is refused with
its address class, named hosts allowed by config pass, and a name resolving to loopback is caught."""

from __future__ import annotations

import json
import ssl
import subprocess

import httpx
import pytest

BLOCKED = [
    # loopback, in every IPv4 notation
    ("http://127.0.0.1/", "loopback"),
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://127.255.255.254/", "loopback"),
    ("http://127.0.0.1:8080/admin", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://localhost:9200/_cat", "loopback"),
    ("http://loopback-alias.test/", "loopback"),  # resolve_overrides -> 127.0.0.2
    # unspecified
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    # private ranges
    ("http://10.0.0.1/", "private"),
    ("http://10.255.255.254/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://192.168.255.254/", "private"),
    ("http://0xa000001/", "private"),
    ("http://167772161/", "private"),
    ("http://012.0.0.1/", "private"),
    ("http://private-alias.test/", "private"),  # resolve_overrides -> 10.1.2.3
    # cloud metadata and link-local
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://0xa9fea9fe/", "metadata"),
    ("http://2852039166/", "metadata"),
    ("http://169.254.169.254:80/computeMetadata/v1/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://169.254.0.1/", "link_local"),
    ("http://169.254.10.20/", "link_local"),
    ("http://[fe80::1]/", "link_local"),
    # carrier-grade NAT, multicast, broadcast, reserved
    ("http://100.64.0.1/", "cgnat"),
    ("http://100.127.255.254/", "cgnat"),
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    # IPv6 forms
    ("http://[::1]/", "loopback"),
    ("http://[::1]:8080/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[fc00::1]/", "unique_local"),
    ("http://[fd12:3456::1]/", "unique_local"),
    ("http://[ff02::1]/", "multicast"),
    # IPv4 carried in IPv6 is judged by the IPv4 address it carries
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),
    # HTTPS through CONNECT too
    ("https://127.0.0.1/", "loopback"),
    ("https://10.0.0.1/", "private"),
    ("https://169.254.169.254/", "metadata"),
    ("https://localhost/", "loopback"),
]
ALLOWED = [f"https://upstream.test/echo?n={i}" for i in range(8)] + [
    "https://upstream.test/status/204",
    "http://plain.test/echo",
    "http://plain.test/echo?x=1",
    "https://upstream.test/bytes/10",
]


@pytest.fixture(scope="module")
def ssrf_proxy(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    config = {
        "ssrf": {"allow": ["upstream.test", "plain.test"]},  # named test hosts only; loopback stays closed
        "resolve_overrides": {"loopback-alias.test": "127.0.0.2:80", "private-alias.test": "10.1.2.3:80"},
        "upstream_timeout": 3,
    }
    p = start_proxy(tmp_path_factory.mktemp("ssrf-proxy"), upstream, shared_certs, config)
    yield p
    p.stop()


def test_corpus_size():
    assert len(BLOCKED) + len(ALLOWED) >= 60


@pytest.fixture(scope="module")
def client(ssrf_proxy):
    trust = ssl.create_default_context(cafile=str(ssrf_proxy.ca_file))
    with httpx.Client(proxy=ssrf_proxy.url, verify=trust, timeout=15, trust_env=False) as c:
        yield c


@pytest.mark.parametrize("url, address_class", BLOCKED)
def test_internal_destinations_are_refused(ssrf_proxy, url, address_class):
    # curl sends every notation as written (httpx rejects some of them client-side).
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "15",
            "-x",
            ssrf_proxy.url,
            "--cacert",
            str(ssrf_proxy.ca_file),
            "--suppress-connect-headers",
            "-D",
            "-",
            url,
        ],
        capture_output=True,
        timeout=30,
    )
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert " 403" in lines[0], (lines, body)
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    assert headers["x-palaryn-decision"] == "deny"
    assert address_class in json.loads(body)["error"]["message"]
    record = ssrf_proxy.record_for(headers["x-palaryn-request-id"])
    assert record["reasons"][-1]["rule"] == f"ssrf:{address_class}"


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed_hosts_pass(client, url):
    assert client.get(url).status_code in (200, 204)
