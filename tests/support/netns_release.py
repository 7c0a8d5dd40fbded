"""What a fleet-mode release needs on the network-namespace fleet (tests/support/netns.py), shared by
tests/ops/test_fleet_release_netns.py and tests/ops/test_control_plane_netns.py: a module written here,
its onboarding manifest, a releasing workspace (``Releaser``) and a TCP ``Relay`` from the bridge address
to a service on the root namespace's 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from urllib.parse import urlsplit

import yaml

from support.host import REPO, WASMOPS
from support.netns import AGENT_PORT, Node
from support.wat import printing_wat
from test_agent_support import TOKEN, git


def node(f, name) -> Node:
    return next(n for n in f.nodes if n.m.name == name)


def module_dir(d, name: str, out: str):
    """A WAT module written here that prints ``out``, with one test case saying so."""
    d.mkdir(exist_ok=True)
    (d / "m.wat").write_text(printing_wat(out))
    (d / "module.yaml").write_text(yaml.safe_dump({
        "name": name, "language": "wat", "sources": ["m.wat"],
        "limits": {"fuel": 1000000, "memory": "1Mi", "timeout_ms": 1000},
        "tests": [{"name": "prints", "stdin": "", "expect_stdout": out}]}, sort_keys=False))
    return d


class Releaser:
    """A workspace that releases to the fleet: its own clone of the fleet's remote, the fleet's signing key
    (the hosts trust it), the fleet's registry, and the agents as ``WASMOPS_FLEET_AGENTS``."""

    def __init__(self, fleet, home, prefect_api: str, trusted: bool = True, remote: str | None = None):
        """``remote``: the GitOps remote it pushes to (default the bare repository's path; a worker on
        a machine of its own uses ``fleet.remote_url``, git:// on the bridge)."""
        from wasmops.config import Settings
        from wasmops.workspace import init_workspace

        self.remote = remote or str(fleet.remote)
        self.bare = str(fleet.remote)
        (home / "keys").mkdir(parents=True)
        for k in ("signing.key", "signing.pub") if trusted else ():    # untrusted: init makes a key of its own
            shutil.copyfile(fleet.ws.settings.private_key.parent / k, home / "keys" / k)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_"))}
        self.env.update(WASMOPS_HOME=str(home), WASMOPS_GITOPS_REMOTE=self.remote, WASMOPS_REGISTRY_INSECURE="1",
                        WASMOPS_REGISTRY=f"oci://{fleet.registry}/fleet", WASMOPS_HOST_TOKEN=TOKEN,
                        WASMOPS_FLEET_AGENTS=",".join(f"http://{n.m.ip}:{AGENT_PORT}" for n in fleet.nodes),
                        PREFECT_API_URL=prefect_api, COLUMNS="250",
                        WASMOPS_HOST_URL="http://127.0.0.1:9")     # no local host: fleet mode needs none
        init_workspace(Settings(home=home, gitops_remote=self.remote))      # clones the remote
        self.gitops = home / "gitops"
        if not (self.gitops / "pricing.yaml").exists():     # priced releases, as in a real repo (without
            # prices and budgets the gate lets a release through unpriced)
            shutil.copyfile(REPO / "deployments" / "pricing.yaml", self.gitops / "pricing.yaml")
            self.push(["pricing.yaml"], "prices for the budget gate")

    def put_manifest(self, key: str, doc: dict, message: str) -> None:
        rel = f"modules/{key}.yaml"
        (self.gitops / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.gitops / rel).write_text(yaml.safe_dump(doc, sort_keys=False))
        self.push([rel], message)

    def push(self, rels: list[str], message: str) -> None:
        git(self.gitops, "add", *rels)
        git(self.gitops, "commit", "-q", "-m", message)
        git(self.gitops, "pull", "-q", "--rebase", "origin", "main")
        git(self.gitops, "push", "-q", "origin", "main")

    def release(self, module_dir, key: str, timeout_s: float, ai_check: bool = False) -> subprocess.CompletedProcess:
        """``wasmops release`` with auto-approval; the release judge only with ``ai_check`` (30 requests a side)."""
        judge = ["--ai-requests", "30"] if ai_check else ["--no-ai-check"]
        return subprocess.run([WASMOPS, "release", str(module_dir), "--target", key, "--auto-approve", *judge],
                              env={**self.env, "WASMOPS_FLEET_TIMEOUT_S": str(timeout_s)},
                              cwd=REPO, capture_output=True, text=True, timeout=240)

    def at_main(self, *args: str) -> str:
        return git(REPO, "--git-dir", self.bare, *args)


def manifest(fleet, name: str) -> dict:
    return {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
            "metadata": {"name": name, "namespace": "edge", "labels": {"team": "fleet", "project": "netns", "env": "edge"}},
            "spec": {"environment": "dev", "replicas": 1,
                     "moduleRef": {"repository": f"oci://{fleet.registry}/fleet/{name}", "tag": "unreleased"},
                     "runtimeConfig": {"resources": {"cpu": "50m", "memory": "8Mi"}, "env": {},
                                       "trustLevel": "sandboxed", "timeoutMs": 1000}}}


class Relay:
    """A TCP relay from the bridge address (which the machines reach) to a service on the root namespace's
    127.0.0.1 (the stack's Prefect server): the agents' events go to the server the release uses."""

    def __init__(self, listen_host: str, target: str):
        u = urlsplit(target)
        self.target = (u.hostname, u.port)
        self.server, self.conns = socket.create_server((listen_host, 0)), []
        self.url = target.replace(f"{u.hostname}:{u.port}", f"{listen_host}:{self.server.getsockname()[1]}", 1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:               # closed
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()
        for sock in self.conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
