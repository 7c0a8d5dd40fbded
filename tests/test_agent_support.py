"""A fleet on 127.0.0.1 for the agent tests and bench/fleet.py: a bare Git remote, a release workspace
(keys, OCI layout), hosts and their agents as real processes. (Named test_*.py only so that it sits
with the agent tests; it holds no tests.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from wasmops.host.client import HostClient
from wasmops.services import free_port
from support.wat import printing_wat

WASMOPS = str(Path(sys.executable).with_name("wasmops"))
TOKEN = "fleet-test-token"
SECRET = "s3cret-hook"


wat = printing_wat


def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.1):
    """Poll ``check()`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, KeyError, TypeError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class Node:
    """One host and its agent."""

    name: str
    home: Path
    host_port: int
    agent_port: int
    agent_args: list[str]
    host_proc: subprocess.Popen | None = None
    agent_proc: subprocess.Popen | None = None

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    @property
    def agent_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}"

    @property
    def client(self) -> HostClient:
        return HostClient(self.host_url, TOKEN, timeout=10)

    def status(self) -> dict:
        return httpx.get(self.agent_url + "/status", timeout=5).json()

    def served(self) -> dict[str, str]:
        return {f"{m['namespace']}/{m['name']}": m["digest"] for m in self.client.modules()}


@dataclass
class Fleet:
    root: Path
    keys: Path
    layout: Path
    remote: Path
    writer: Path
    env: dict
    publish: callable
    nodes: list[Node] = field(default_factory=list)

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (or delete, for None) files in the writer clone, commit and push; the new commit id."""
        for rel, text in files.items():
            p = self.writer / rel
            if text is None:
                git(self.writer, "rm", "-q", rel)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            git(self.writer, "add", rel)
        git(self.writer, "commit", "-q", "-m", message)
        git(self.writer, "push", "-q", "origin", "main")
        return git(self.writer, "rev-parse", "HEAD")

    def manifest(self, key: str, tag: str, digest: str, env: str, **labels) -> dict[str, str]:
        ns, name = key.split("/")
        doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
               "metadata": {"name": name, "namespace": ns,
                            "labels": {"team": "fleet", "project": "agents", "env": env, **labels}},
               "spec": {"moduleRef": {"repository": f"oci-layout://{self.layout}", "tag": tag, "digest": digest},
                        "runtimeConfig": {"resources": {"cpu": "50m", "memory": "2Mi"}, "env": {"V": tag}}}}
        return {f"modules/{ns}/{name}.yaml": yaml.safe_dump(doc, sort_keys=False)}

    def add_node(self, name: str, *agent_args: str) -> Node:
        n = Node(name, self.root / name, free_port(), free_port(), list(agent_args))
        n.home.mkdir()
        self.nodes.append(n)
        return n

    def node_env(self, n: Node) -> dict:
        return {**self.env, "WASMOPS_HOME": str(n.home), "WASMOPS_HOST_TOKEN": TOKEN}

    def start_host(self, n: Node) -> None:
        log = open(n.home / "host.log", "ab")
        # "--workers 2" meant two threads when this was written (2bc9fe3); it came to mean two worker
        # processes a host, so every fleet node ran three. Fleet tests are about agents and Git: one
        # process with two threads, as first meant (several processes: tests/host/test_workers.py).
        n.host_proc = subprocess.Popen([WASMOPS, "host", "--port", str(n.host_port), "--keys", str(self.keys),
                                        "--workers", "1", "--threads", "2"], env=self.node_env(n), stdout=log,
                                       stderr=subprocess.STDOUT)
        HostClient(n.host_url).wait_ready(90)

    def start_agent(self, n: Node, remote: str | None = None) -> None:
        log = open(n.home / "agent.log", "ab")
        n.agent_proc = subprocess.Popen(
            [WASMOPS, "agent", "--host-url", n.host_url, "--remote", remote or f"file://{self.remote}",
             "--registry", f"oci-layout://{self.layout}", "--port", str(n.agent_port),
             "--webhook-secret", SECRET, *n.agent_args],
            env=self.node_env(n), stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"{n.name}'s agent /status", n.status, timeout=60)

    @staticmethod
    def stop(proc: subprocess.Popen | None) -> None:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        for n in self.nodes:
            self.stop(n.agent_proc)
            self.stop(n.host_proc)


def make_fleet(root: Path) -> Fleet:
    """A release workspace (keys + OCI layout), an empty bare remote with one commit, and a writer clone."""
    from support.host import make_workspace

    ws = make_workspace(root / "release")
    remote, writer = root / "remote.git", root / "writer"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "clone", "-q", str(remote), str(writer))
    (writer / "README.md").write_text("desired state for the fleet test\n")
    git(writer, "add", "README.md")
    git(writer, "commit", "-q", "-m", "init")
    git(writer, "push", "-q", "origin", "main")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_API_URL"))}
    return Fleet(root, ws.settings.trusted_keys_dir, ws.settings.oci_layout, remote, writer, env,
                 lambda tag, text: ws.publish_wat(tag, wat(text))[1])
