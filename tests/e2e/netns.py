"""An "agent" network namespace joined to the host by a veth pair, its TCP traffic REDIRECTed to a proxy port.

Names and the /30 subnet are derived from the pid so parallel runs never collide; every address, link, rule
and file created here is removed by `teardown()`, which tolerates a half-built namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


def missing_requirements() -> str | None:
    """Why the namespace cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 iptables)"
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out


def _addresses_in_use() -> set[str]:
    """Every address and route prefix on this machine, as words."""
    used = _run("ip", "-o", "addr", "show").stdout + _run("ip", "route", "show", "table", "all").stdout
    return set(used.replace("/", " ").split())


@dataclass
class AgentNamespace:
    """`ip netns` "agent" with veth to the host; host-side iptables REDIRECT of chosen ports to `proxy_port`."""

    proxy_port: int
    redirect_ports: tuple[int, ...] = (80, 443)
    names: tuple[str, ...] = ()  # host names the namespace's /etc/hosts points at the host end of the veth
    tag: str = field(default_factory=lambda: f"p{os.getpid() % 100000}")
    host_ip: str = ""
    agent_ip: str = ""
    _rules: list[list[str]] = field(default_factory=list)
    _nat_existed: bool = True

    @property
    def name(self) -> str:
        return f"palaryn-{self.tag}"

    @property
    def host_link(self) -> str:
        return f"v{self.tag}h"  # <= 15 characters

    @property
    def agent_link(self) -> str:
        return f"v{self.tag}a"

    def pick_subnet(self) -> None:
        pid, used = os.getpid(), _addresses_in_use()
        for attempt in range(64):
            n = pid + attempt * 7919
            prefix = f"10.{200 + n % 50}.{(n // 50) % 256}."
            if not used & {prefix + "0", prefix + "1", prefix + "2", prefix + "3"}:
                self.host_ip, self.agent_ip = prefix + "1", prefix + "2"
                return
        raise RuntimeError("no free 10.2xx.x.0/30 subnet")

    def setup(self) -> AgentNamespace:
        """Build everything; on any failure the caller's finalizer runs `teardown()`."""
        if not self.host_ip:
            self.pick_subnet()
        if shutil.which("nft"):
            self._nat_existed = _run("nft", "list", "table", "ip", "nat", check=False).returncode == 0
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.agent_link)
        _run("ip", "link", "set", self.agent_link, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_link)
        _run("ip", "link", "set", self.host_link, "up")
        inside = ("ip", "netns", "exec", self.name)
        _run(*inside, "ip", "addr", "add", f"{self.agent_ip}/30", "dev", self.agent_link)
        _run(*inside, "ip", "link", "set", self.agent_link, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "route", "add", "default", "via", self.host_ip)
        ports = ",".join(str(p) for p in self.redirect_ports)
        rule = ["PREROUTING", "-i", self.host_link, "-p", "tcp", "-m", "multiport", "--dports", ports]
        rule += [
            "-m",
            "comment",
            "--comment",
            self.name,
            "-j",
            "REDIRECT",
            "--to-ports",
            str(self.proxy_port),
        ]
        _run("iptables", "-t", "nat", "-A", *rule)
        self._rules.append(rule)
        if self.names:  # `ip netns exec` bind-mounts /etc/netns/<name>/hosts over /etc/hosts
            etc = NETNS_ETC / self.name
            etc.mkdir(parents=True, exist_ok=True)
            lines = ["127.0.0.1 localhost", *(f"{self.host_ip} {name}" for name in self.names)]
            (etc / "hosts").write_text("\n".join(lines) + "\n")
        return self

    def run(
        self, *args: str, env: dict[str, str], timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace with exactly `env` (no proxy variables unless given)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
        )

    def teardown(self) -> list[str]:
        """Remove rules, links, the namespace and its /etc files; returns what could not be removed."""
        problems = []
        for rule in self._rules:
            out = _run("iptables", "-t", "nat", "-D", *rule, check=False)
            if out.returncode != 0:
                problems.append(f"iptables -D {' '.join(rule)}: {out.stderr.strip()}")
        self._rules.clear()
        if not self._nat_existed and not _nat_has_rules():
            _run("nft", "delete", "table", "ip", "nat", check=False)  # it did not exist before us
        _run("ip", "link", "del", self.host_link, check=False)  # also removes the peer
        if _run("ip", "netns", "list", check=False).stdout.split().count(self.name):
            out = _run("ip", "netns", "del", self.name, check=False)
            if out.returncode != 0:
                problems.append(f"ip netns del {self.name}: {out.stderr.strip()}")
        shutil.rmtree(NETNS_ETC / self.name, ignore_errors=True)
        try:
            NETNS_ETC.rmdir()  # only when empty
        except OSError:
            pass
        return problems


def _nat_has_rules() -> bool:
    out = _run("iptables", "-t", "nat", "-S", check=False).stdout
    return any(line.startswith("-A ") for line in out.splitlines())


def leftovers(ns: AgentNamespace) -> list[str]:
    """Anything of this namespace still present on the machine (for the cleanup assertion)."""
    found = []
    if ns.name in _run("ip", "netns", "list", check=False).stdout.split():
        found.append(f"netns {ns.name}")
    if _run("ip", "link", "show", ns.host_link, check=False).returncode == 0:
        found.append(f"link {ns.host_link}")
    if ns.name in _run("iptables", "-t", "nat", "-S", check=False).stdout:
        found.append(f"iptables rule tagged {ns.name}")
    if (NETNS_ETC / ns.name).exists():
        found.append(f"{NETNS_ETC / ns.name}")
    return found
