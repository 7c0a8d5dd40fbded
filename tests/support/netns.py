"""Several "machines" on this one: Linux network namespaces joined by veth pairs to a bridge.

``Net`` makes a bridge in the root namespace (address ``10.A.B.1/24``, a subnet nothing else here
uses) and, per ``machine(name)``, a namespace with its own loopback and ``eth0`` at ``10.A.B.(10+i)``,
default route via the bridge. Services of the root namespace listen on ``net.gateway``; a machine's
services listen on its own address and are reached from the root namespace (and from each other)
through the bridge. ``machine.popen(cmd)`` runs a process inside the namespace (``ip netns exec``).

Everything gets a random tag, so concurrent test runs do not collide, and ``close()`` removes the
namespaces, veths, bridge and the iptables rules it added (ACCEPT on the bridge in INPUT and FORWARD,
for machines whose default policy drops) even after a failure; it is idempotent. Needs root (or
CAP_NET_ADMIN); ``netns_unavailable()`` says why when it is impossible.
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:500]}")
    return p


def netns_unavailable() -> str | None:
    """None when namespaces and veths can be made here, else the reason (for a skip message)."""
    if not shutil.which("ip"):
        return "`ip` (iproute2) is not installed"
    probe = f"wasmops-probe-{secrets.token_hex(3)}"
    p = _run("ip", "netns", "add", probe, check=False)
    if p.returncode != 0:
        return f"`ip netns add` is not possible here: {p.stderr.strip()[:200]}"
    try:
        v = f"wopr{secrets.token_hex(3)}"
        q = _run("ip", "link", "add", v, "type", "veth", "peer", "name", v + "p", check=False)
        if q.returncode != 0:
            return f"veth pairs are not possible here: {q.stderr.strip()[:200]}"
        _run("ip", "link", "del", v, check=False)
        return None
    finally:
        _run("ip", "netns", "del", probe, check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    used = [ipaddress.ip_interface(w).network for line in _run("ip", "-4", "-o", "addr").stdout.splitlines()
            for w in line.split() if "/" in w and w[0].isdigit()]
    rng = random.Random()
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{rng.randint(64, 254)}.{rng.randint(0, 254)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test bridge")


@dataclass
class Machine:
    name: str
    ns: str
    ip: str
    veth: str

    def popen(self, cmd: list[str], **kw) -> subprocess.Popen:
        """``cmd`` inside this machine's namespace (``ip netns exec`` execs it: the pid is the command's)."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *cmd], **kw)

    def run(self, *cmd: str) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.ns, *cmd)


@dataclass
class Net:
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    machines: list[Machine] = field(default_factory=list)
    rules: list[list[str]] = field(default_factory=list)
    made_bridge: bool = False

    def __post_init__(self):
        self.bridge = f"wob{self.tag}"
        self.subnet = _free_subnet()
        self.gateway = str(self.subnet.network_address + 1)

    def up(self) -> "Net":
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_bridge = True
        _run("ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        if shutil.which("iptables"):
            for chain, flag in (("INPUT", "-i"), ("FORWARD", "-i"), ("FORWARD", "-o")):
                rule = [chain, flag, self.bridge, "-j", "ACCEPT", "-m", "comment", "--comment", f"wasmops-test-{self.tag}"]
                if _run("iptables", "-I", *rule, check=False).returncode == 0:
                    self.rules.append(rule)
        return self

    def machine(self, name: str) -> Machine:
        i = len(self.machines)
        m = Machine(name, f"wasmops-{self.tag}-{name}", str(self.subnet.network_address + 10 + i), f"wov{self.tag}{i}")
        _run("ip", "netns", "add", m.ns)
        self.machines.append(m)
        peer = f"wop{self.tag}{i}"
        _run("ip", "link", "add", m.veth, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", m.ns)
        _run("ip", "link", "set", m.veth, "master", self.bridge)
        _run("ip", "link", "set", m.veth, "up")
        for cmd in (["link", "set", "lo", "up"], ["link", "set", peer, "name", "eth0"],
                    ["addr", "add", f"{m.ip}/{self.subnet.prefixlen}", "dev", "eth0"], ["link", "set", "eth0", "up"],
                    ["route", "add", "default", "via", self.gateway]):
            _run("ip", "-n", m.ns, *cmd)
        return m

    def close(self) -> list[str]:
        """Remove everything this Net made; the errors met (each step is tried regardless)."""
        errors = []
        for m in self.machines:
            for cmd in (["ip", "netns", "del", m.ns], ["ip", "link", "del", m.veth]):
                p = _run(*cmd, check=False)
                if p.returncode and "Cannot find" not in p.stderr and "No such" not in p.stderr and \
                        "does not exist" not in p.stderr:
                    errors.append(f"{' '.join(cmd)}: {p.stderr.strip()}")
        self.machines.clear()
        if self.made_bridge:
            p = _run("ip", "link", "del", self.bridge, check=False)
            if p.returncode and "Cannot find" not in p.stderr:
                errors.append(f"ip link del {self.bridge}: {p.stderr.strip()}")
            self.made_bridge = False
        for rule in self.rules:
            p = _run("iptables", "-D", *rule, check=False)
            if p.returncode:
                errors.append(f"iptables -D {' '.join(rule)}: {p.stderr.strip()}")
        self.rules.clear()
        return errors

    def leftovers(self) -> list[str]:
        """What of this Net still exists (a test's teardown check)."""
        out = [ns for ns in _run("ip", "netns", "list").stdout.split() if f"wasmops-{self.tag}-" in ns]
        out += [ln.split(":")[1].strip().split("@")[0] for ln in _run("ip", "-o", "link").stdout.splitlines()
                if self.tag in ln.split(":")[1]]
        if shutil.which("iptables"):
            out += [ln for ln in _run("iptables", "-S", check=False).stdout.splitlines() if f"wasmops-test-{self.tag}" in ln]
        return out

    def __enter__(self) -> "Net":
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
