"""Several "machines" on this one: Linux network namespaces joined by veth pairs to a bridge.

``Net`` makes a bridge in the root namespace (address ``10.A.B.1/24``, a subnet nothing else here
uses) and, per ``machine(name)``, a namespace with its own loopback and ``eth0`` at ``10.A.B.(10+i)``,
default route via the bridge. Services of the root namespace listen on ``net.gateway``; a machine's
services listen on its own address and are reached from the root namespace (and from each other)
through the bridge. ``machine.popen(cmd)`` runs a process inside the namespace (``ip netns exec``).

``NetFleet`` builds the wasmops fleet on it (the netns fleet test and ``bench/fleet.py --netns``): a
bare Git remote served by ``git daemon`` (pull and push) and an OCI registry (Debian ``docker-registry``) on the
bridge address, and per machine a ``wasmops host`` (port 8700 on every machine) with its ``wasmops
agent`` (pulls ``git://``, reconciles the host at its machine's address, so the host URL it reports in
``/status`` is one the root namespace reaches: a fleet-mode release verifies there; ``/status`` on its address).
``net_fleet`` is shared by the netns tests of ``tests/ops`` (package fixture ``fleet``): each test uses its
own module keys, and ``commit`` pulls first, as other writers (a release) push to the same remote.

Everything gets a random tag, so concurrent test runs do not collide, and ``close()`` removes the
namespaces, veths, bridge and the iptables rules it added (ACCEPT on the bridge in INPUT and FORWARD,
for machines whose default policy drops) even after a failure; it is idempotent. Needs root (or
CAP_NET_ADMIN); ``netns_unavailable()`` says why when it is impossible.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import yaml

from test_agent_support import SECRET, TOKEN, git, wait_for, wat
from wasmops.host.client import HostClient


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


WASMOPS = str(Path(sys.executable).with_name("wasmops"))
HOST_PORT, AGENT_PORT = 8700, 8780          # the same on every machine: each has its own addresses


def free_port_on(address: str) -> int:
    """A port nothing listens on at ``address`` (nor on 0.0.0.0) right now."""
    import socket

    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@dataclass
class Node:
    m: Machine
    home: Path
    selector: str
    host: subprocess.Popen | None = None
    agent: subprocess.Popen | None = None

    @property
    def client(self) -> HostClient:
        return HostClient(f"http://{self.m.ip}:{HOST_PORT}", TOKEN, timeout=10)

    def status(self) -> dict:
        return httpx.get(f"http://{self.m.ip}:{AGENT_PORT}/status", timeout=5).json()

    def served(self) -> dict[str, str]:
        return {f"{x['namespace']}/{x['name']}": x["digest"] for x in self.client.modules()}


def stop_process(p: subprocess.Popen | None) -> None:
    if p is not None and p.poll() is None:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


class NetFleet:
    """The fleet on a :class:`Net`; ``with net_fleet(root, [(name, selector), ...]) as f`` starts it all."""

    def __init__(self, root: Path, net: Net, interval: str = "1s"):
        from support.host import make_workspace

        self.root, self.net, self.procs, self.interval = root, net, [], interval
        self.ws = make_workspace(root / "release")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_API_URL"))}
        self.env.update(WASMOPS_REGISTRY_INSECURE="1", WASMOPS_HOST_TOKEN=TOKEN)
        self.git_port, self.registry_port = free_port_on(net.gateway), free_port_on(net.gateway)
        self.registry = f"{net.gateway}:{self.registry_port}"
        self.remote_url = f"git://{net.gateway}:{self.git_port}/remote.git"
        self.nodes: list[Node] = []

    def start_shared(self) -> None:
        """The root namespace's services, on the bridge address only."""
        from support.registry import _binary, _config

        remote, writer = self.root / "git" / "remote.git", self.root / "writer"
        remote.parent.mkdir()
        git(self.root, "init", "-q", "--bare", "-b", "main", str(remote))
        git(self.root, "clone", "-q", str(remote), str(writer))
        (writer / "README.md").write_text("desired state of the netns fleet\n")
        git(writer, "add", "README.md")
        git(writer, "commit", "-q", "-m", "init")
        git(writer, "push", "-q", "origin", "main")
        self.writer, self.remote = writer, remote
        self.procs.append(subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",   # workers push over git://
             f"--base-path={remote.parent}",
             f"--listen={self.net.gateway}", f"--port={self.git_port}", str(remote.parent)],
            stdout=open(self.root / "git-daemon.log", "wb"), stderr=subprocess.STDOUT))
        storage = self.root / "registry"
        storage.mkdir()
        (self.root / "registry.yml").write_text(
            _config(storage, self.registry_port, None).replace("addr: 127.0.0.1:", f"addr: {self.net.gateway}:"))
        self.procs.append(subprocess.Popen([_binary(), "serve", str(self.root / "registry.yml")],
                                           stdout=open(self.root / "registry.log", "wb"), stderr=subprocess.STDOUT))
        wait_for("the registry", lambda: httpx.get(f"http://{self.registry}/v2/", timeout=2).status_code == 200, 30)
        wait_for("git daemon", lambda: subprocess.run(["git", "ls-remote", self.remote_url], capture_output=True,
                                                      timeout=10).returncode == 0, 30, 0.2)

    def add(self, name: str, selector: str) -> Node:
        n = Node(self.net.machine(name), self.root / name, selector)
        n.home.mkdir()
        self.nodes.append(n)
        return n

    def start_host(self, n: Node) -> None:
        n.host = n.m.popen([WASMOPS, "host", "--bind", "0.0.0.0", "--port", str(HOST_PORT), "--keys",
                            str(self.ws.settings.trusted_keys_dir), "--workers", "1"],
                           env={**self.env, "WASMOPS_HOME": str(n.home)},
                           stdout=open(n.home / "host.log", "ab"), stderr=subprocess.STDOUT)

    def start_agent(self, n: Node) -> None:
        n.agent = n.m.popen([WASMOPS, "agent", "--host-url", f"http://{n.m.ip}:{HOST_PORT}", "--remote",
                             self.remote_url, "--registry", f"oci://{self.registry}/fleet", "--bind", "0.0.0.0",
                             "--port", str(AGENT_PORT), "--webhook-secret", SECRET, "-l", n.selector,
                             "--interval", self.interval],
                            env={**self.env, "WASMOPS_HOME": str(n.home)},
                            stdout=open(n.home / "agent.log", "ab"), stderr=subprocess.STDOUT)

    def publish(self, repo: str, tag: str, text: str) -> str:
        """Sign and push a module written here to the registry (over the bridge); its digest."""
        import wasmtime

        from wasmops.supply.oci import publish
        from wasmops.supply.signing import sign_file

        path = self.root / f"{tag}.wasm"
        path.write_bytes(wasmtime.wat2wasm(wat(text)))
        bundle = sign_file(path, private_key_path=self.ws.settings.private_key, backend="offline")
        return publish(path, f"oci://{self.registry}/{repo}:{tag}", bundle_path=bundle).manifest_digest

    def commit(self, key: str, repo: str, tag: str, digest: str, env: str, message: str) -> str:
        ns, name = key.split("/")
        doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
               "metadata": {"name": name, "namespace": ns, "labels": {"team": "fleet", "project": "netns", "env": env}},
               "spec": {"moduleRef": {"repository": f"oci://{self.registry}/{repo}", "tag": tag, "digest": digest},
                        "runtimeConfig": {"resources": {"cpu": "50m", "memory": "2Mi"}, "env": {"V": tag}}}}
        rel = f"modules/{ns}/{name}.yaml"
        (self.writer / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.writer / rel).write_text(yaml.safe_dump(doc, sort_keys=False))
        git(self.writer, "add", rel)
        git(self.writer, "commit", "-q", "-m", message)
        git(self.writer, "pull", "-q", "--rebase", "origin", "main")      # a release may have pushed meanwhile
        git(self.writer, "push", "-q", "origin", "main")
        return git(self.writer, "rev-parse", "HEAD")

    def close(self) -> None:
        for n in self.nodes:
            stop_process(n.agent)
            stop_process(n.host)
        for p in self.procs:
            stop_process(p)


@contextmanager
def net_fleet(root: Path, machines: list[tuple[str, str]], interval: str = "1s") -> Iterator["NetFleet"]:
    """Bridge, shared services, and per ``(name, selector)`` a machine with its host and agent, all
    started and answering; everything stopped and removed afterwards (an AssertionError if any of
    the network set-up is left over)."""
    net, f = Net(), None
    try:
        net.up()
        f = NetFleet(root, net, interval)
        f.start_shared()
        for name, sel in machines:
            f.start_host(f.add(name, sel))
        for n in f.nodes:
            n.client.wait_ready(90)
            f.start_agent(n)
        for n in f.nodes:
            wait_for(f"{n.m.name}'s agent /status", n.status, 60)
        yield f
    finally:
        if f is not None:
            f.close()
        errors = net.close()
        assert not errors and not net.leftovers(), (errors, net.leftovers())
