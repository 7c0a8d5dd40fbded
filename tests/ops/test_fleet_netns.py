"""A fleet of machines made with network namespaces (tests/support/netns.py): on the root namespace's
bridge address a bare Git remote (`git daemon`) and an OCI registry (Debian `docker-registry`); three
machines, each with its own address, its own `wasmops host` (port 8700 on every machine) and its own
`wasmops agent` (pulls git://, reconciles its host on 127.0.0.1 of its machine, /status on its
address). Nobody pushes to a host: every change goes through Git.

edge-1, edge-2: selector env=edge.   core-1: selector env=core.   All heal, interval 1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from support.netns import Machine, Net, netns_unavailable
from test_agent_support import SECRET, TOKEN, git, wait_for, wat
from wasmops.host.client import HostClient

WASMOPS = str(Path(sys.executable).with_name("wasmops"))
HOST_PORT, AGENT_PORT, GIT_PORT, REGISTRY_PORT = 8700, 8780, 9418, 5000


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


def _stop(p: subprocess.Popen | None) -> None:
    if p is not None and p.poll() is None:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


class NetFleet:
    def __init__(self, root: Path, net: Net):
        from support.host import make_workspace

        self.root, self.net, self.procs = root, net, []
        self.ws = make_workspace(root / "release")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_API_URL"))}
        self.env.update(WASMOPS_REGISTRY_INSECURE="1", WASMOPS_HOST_TOKEN=TOKEN)
        self.registry = f"{net.gateway}:{REGISTRY_PORT}"
        self.remote_url = f"git://{net.gateway}:{GIT_PORT}/remote.git"
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
        self.writer = writer
        self.procs.append(subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={remote.parent}",
             f"--listen={self.net.gateway}", f"--port={GIT_PORT}", str(remote.parent)],
            stdout=open(self.root / "git-daemon.log", "wb"), stderr=subprocess.STDOUT))
        storage = self.root / "registry"
        storage.mkdir()
        (self.root / "registry.yml").write_text(
            _config(storage, REGISTRY_PORT, None).replace("addr: 127.0.0.1:", f"addr: {self.net.gateway}:"))
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
        n.agent = n.m.popen([WASMOPS, "agent", "--host-url", f"http://127.0.0.1:{HOST_PORT}", "--remote",
                             self.remote_url, "--registry", f"oci://{self.registry}/fleet", "--bind", "0.0.0.0",
                             "--port", str(AGENT_PORT), "--webhook-secret", SECRET, "-l", n.selector,
                             "--interval", "1s"],
                            env={**self.env, "WASMOPS_HOME": str(n.home)},
                            stdout=open(n.home / "agent.log", "ab"), stderr=subprocess.STDOUT)

    def publish(self, repo: str, tag: str, text: str) -> str:
        """Sign and push a module written here to the registry (over the bridge); its digest."""
        import wasmtime

        from wasmops.oci import publish
        from wasmops.signing import sign_file

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
        git(self.writer, "push", "-q", "origin", "main")
        return git(self.writer, "rev-parse", "HEAD")

    def close(self) -> None:
        for n in self.nodes:
            _stop(n.agent)
            _stop(n.host)
        for p in self.procs:
            _stop(p)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    why = netns_unavailable()
    if why:
        pytest.skip(f"network namespaces are impossible here, so the fleet cannot have its own addresses: {why}")
    mp = pytest.MonkeyPatch()
    mp.setenv("WASMOPS_REGISTRY_INSECURE", "1")        # this process publishes to the bridge address over HTTP
    net = Net()
    f = None
    try:
        net.up()
        f = NetFleet(tmp_path_factory.mktemp("netns-fleet"), net)
        f.start_shared()
        for name, sel in (("edge-1", "env=edge"), ("edge-2", "env=edge"), ("core-1", "env=core")):
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
        mp.undo()
        assert not errors and not net.leftovers(), (errors, net.leftovers())


def _node(f, name) -> Node:
    return next(n for n in f.nodes if n.m.name == name)


def test_release_to_edge_reaches_exactly_the_edge_machines_and_a_returning_host_converges(fleet):
    e1, e2, core = (_node(fleet, n) for n in ("edge-1", "edge-2", "core-1"))
    assert len({n.m.ip for n in fleet.nodes} | {fleet.net.gateway}) == 4
    d1 = fleet.publish("fleet/web", "web-v1", '{"web":1}')
    sha = fleet.commit("edge/web", "fleet/web", "web-v1", d1, "edge", "release edge/web web-v1")
    for n in (e1, e2, core):
        wait_for(f"{n.m.name} applies {sha[:8]}", lambda: n.status()["revision"]["applied"] == sha)
    assert e1.served() == {"edge/web": d1} == e2.served() and core.served() == {}
    assert e2.client.run("edge", "web", b"").json() == {"web": 1}          # served on edge-2's own address

    _stop(e2.host)                                                        # edge-2 goes away during the change
    wait_for("edge-2's agent sees its host down",
             lambda: e2.status()["conditions"]["Ready"]["reason"] == "HostUnavailable")
    d2 = fleet.publish("fleet/web", "web-v2", '{"web":2}')
    sha2 = fleet.commit("edge/web", "fleet/web", "web-v2", d2, "edge", "release edge/web web-v2")
    wait_for("edge-1 serves v2", lambda: e1.served().get("edge/web") == d2)
    wait_for("edge-2's agent fetched v2 and lags", lambda: e2.status()["revision"]["fetched"] == sha2)
    assert e2.status()["revision"]["applied"] == sha
    fleet.start_host(e2)                                                  # nobody pushes: its own agent acts
    e2.client.wait_ready(90)
    wait_for("edge-2 serves v2 by itself", lambda: e2.served().get("edge/web") == d2, 90)
    wait_for("edge-2 applied v2", lambda: e2.status()["revision"]["applied"] == sha2)
    assert core.served() == {} and core.status()["revision"]["applied"] == sha2


def test_drift_on_one_machine_is_healed_by_its_own_agent(fleet):
    e1, e2 = _node(fleet, "edge-1"), _node(fleet, "edge-2")
    wait_for("edge-1 serves web", lambda: "edge/web" in e1.served())
    before, other = e1.status()["drift_detected_total"], e2.status()["drift_detected_total"]
    live = next(x for x in e1.client.modules() if x["name"] == "web")
    body = {k: live[k] for k in ("ref", "digest", "trust_level", "limits", "labels", "replicas")}
    e1.client.deploy("edge", "web", **body, env={"V": "by-hand"})         # a person changes edge-1 by hand
    wait_for("edge-1 heals env", lambda: next(x["env"] for x in e1.client.modules() if x["name"] == "web") == live["env"])
    st = wait_for("edge-1 records the drift", lambda: (s := e1.status())["drift_detected_total"] > before and s)
    assert st["last_drift"]["items"][0]["field"] == "env.V" and st["last_drift"]["items"][0]["healed"]
    assert e2.status()["drift_detected_total"] == other                  # edge-2 was not touched
