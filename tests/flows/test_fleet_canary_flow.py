"""A canary release across a fleet, on 127.0.0.1: two edge hosts and a core host, each with its agent
(real processes, pulling a bare Git remote every 300 ms and sending their events to the test's Prefect
server), and a workspace in fleet mode (``WASMOPS_FLEET_AGENTS``) that runs the release flow for real.

Nobody reconciles a host centrally: each step's weight goes to Git, every edge agent applies the split
to its own host, the step is judged on one of them, and promotion or abort reaches every edge host.
A ×2 fuel-per-call build is the regression (as in test_canary_flow.py), the same input on both sides."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
import yaml

from test_agent_support import TOKEN, git, make_fleet, wait_for
from wasmops.demo.modules import worker_module

KEY = "edge/web"
STEPS = [{"weight": 50, "pause": "1s"}, {"weight": 100}]


@pytest.fixture(scope="module")
def fleet_home(tmp_path_factory, prefect_api):
    """The fleet, and a releasing workspace of its own: a clone of the remote, the fleet's signing key
    (the hosts trust it) and registry (the OCI layout the agents pull from)."""
    from wasmops.config import Settings
    from wasmops.workspace import init_workspace

    root = tmp_path_factory.mktemp("canary-fleet")
    f = make_fleet(root)
    f.env["PREFECT_API_URL"] = prefect_api
    for name, sel in (("edge-a", "env=edge"), ("edge-b", "env=edge"), ("core", "env=core")):
        n = f.add_node(name, "-l", sel, "--interval", "300ms")
        f.start_host(n)
        f.start_agent(n)
    home = root / "releaser"
    (home / "keys").mkdir(parents=True)
    for k in ("signing.key", "signing.pub"):
        shutil.copyfile(Settings(home=root / "release").private_key.parent / k, home / "keys" / k)
    mp = pytest.MonkeyPatch()
    for k, v in {"WASMOPS_HOME": str(home), "WASMOPS_GITOPS_REMOTE": str(f.remote), "WASMOPS_HOST_TOKEN": TOKEN,
                 "WASMOPS_REGISTRY": f"oci-layout://{f.layout}", "WASMOPS_HOST_URL": "http://127.0.0.1:9",
                 "WASMOPS_FLEET_AGENTS": ",".join(n.agent_url for n in f.nodes),
                 "WASMOPS_FLEET_TIMEOUT_S": "90"}.items():
        mp.setenv(k, v)
    init_workspace(Settings(home=home, gitops_remote=str(f.remote)))       # clones the remote
    doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
           "metadata": {"name": "web", "namespace": "edge", "labels": {"team": "fleet", "project": "canary",
                                                                       "env": "edge"}},
           "spec": {"environment": "dev", "moduleRef": {"repository": "wasmops/web", "tag": "unreleased"},
                    "rollout": {"strategy": "canary", "steps": STEPS},
                    "runtimeConfig": {"resources": {"cpu": "50m", "memory": "8Mi"}, "trustLevel": "sandboxed",
                                      "timeoutMs": 1000}}}
    gitops = home / "gitops"
    (gitops / "modules" / "edge").mkdir(parents=True, exist_ok=True)
    (gitops / "modules" / "edge" / "web.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    git(gitops, "add", "modules/edge/web.yaml")
    git(gitops, "commit", "-q", "-m", "onboard edge/web with canary steps")
    git(gitops, "push", "-q", "origin", "HEAD:main")
    try:
        yield f, home
    finally:
        mp.undo()
        f.close()


class Watch:
    """Every 50 ms, what each edge host serves for KEY, (stable digest, canary digest or None, weight), and
    what its agent's /status says it serves, (serving, canary digest or None, weight)."""

    def __init__(self, nodes):
        self.nodes, self.stop = nodes, threading.Event()
        self.seen = {n.host_url: set() for n in nodes}
        self.reported = {n.host_url: set() for n in nodes}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for n in self.nodes:
                try:
                    m = next((m for m in n.client.modules() if f"{m['namespace']}/{m['name']}" == KEY), None)
                    r = n.status()["modules"].get(KEY)
                except Exception:  # noqa: BLE001 - a busy host or agent: look again
                    continue
                if m:
                    c = m.get("canary") or {}
                    self.seen[n.host_url].add((m["digest"], c.get("digest"), c.get("weight")))
                if r and r.get("ready") == "True":
                    c = r.get("canary") or {}
                    self.reported[n.host_url].add((r["serving"], c.get("digest"), c.get("weight")))
            time.sleep(0.05)

    def __enter__(self) -> "Watch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def _serves_alone(n, digest: str) -> bool:
    m = next((m for m in n.client.modules() if f"{m['namespace']}/{m['name']}" == KEY), None)
    return bool(m) and m["digest"] == digest and not m.get("canary")


def test_a_canary_steps_through_every_matching_host_then_promotes_or_aborts_there(fleet_home, tmp_path):
    from flows._canary import CanaryAborted
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions

    f, home = fleet_home
    a, b, core = f.nodes
    src = worker_module(tmp_path / "web", "web", 20000, "v1")
    v1 = release(module_dir=str(src), target=KEY, auto_approve=True, ai_check=False)
    assert v1["canary"] is None                                   # first release: nothing stable, a plain switch
    for n in (a, b):
        wait_for(f"{n.name} serves v1", lambda n=n: _serves_alone(n, v1["manifest_digest"]))

    worker_module(src, "web", 20000, "v2")                         # a rebuild with no change: passes 50 → 100
    with Watch([a, b]) as w:
        v2 = release(module_dir=str(src), target=KEY, auto_approve=True, ai_requests=30)
    d1, d2 = v1["manifest_digest"], v2["manifest_digest"]
    assert v2["canary"]["outcome"] == "promoted" and [s["verdict"] for s in v2["canary"]["steps"]] == ["pass"], v2
    for n in (a, b):                                               # the split reached each edge host, by its agent
        assert (d1, d2, 50) in w.seen[n.host_url], (n.name, w.seen[n.host_url])
        assert (d1, d2, 50) in w.reported[n.host_url], (n.name, w.reported[n.host_url])   # its /status said so
        assert {r for r in w.reported[n.host_url] if r[1]} == {(d1, d2, 50)}             # and never otherwise
        assert _serves_alone(n, d2)
    assert KEY not in core.served()
    step, = [d for d in list_decisions(home / "gitops", subject=KEY, kind="canary-step") if d.digest == d2]
    assert step.verdict == "pass" and step.data["host"] in (a.host_url, b.host_url) and step.data["weight"] == 50
    assert {r["metric"] for r in step.output["metrics"]} >= {"fuel_per_call", "error_rate"}

    failures, stop = [], threading.Event()

    def load():                                                    # the edge hosts never stop serving
        with httpx.Client(timeout=10) as cl:
            while not stop.is_set():
                for n in (a, b):
                    r = cl.post(f"{n.host_url}/run/{KEY}", content=b"{}")
                    if r.status_code != 200:
                        failures.append((n.name, r.status_code))
                time.sleep(0.01)

    t = threading.Thread(target=load)
    t.start()
    worker_module(src, "web", 40000, "v3")                         # ×2 fuel per call
    try:
        with pytest.raises(CanaryAborted, match="step 0"):
            release(module_dir=str(src), target=KEY, auto_approve=True, ai_requests=30)
    finally:
        stop.set()
        t.join()
    assert failures == []
    for n in (a, b):
        wait_for(f"{n.name} serves v2 alone again", lambda n=n: _serves_alone(n, d2), 60)
    remote = lambda *args: git(f.root, "--git-dir", str(f.remote), *args)      # noqa: E731
    main = yaml.safe_load(remote("show", f"main:modules/{KEY}.yaml"))
    assert main["spec"]["moduleRef"]["digest"] == d2 and not main["spec"]["rollout"].get("inProgress")
    aborted, = [d for d in list_decisions(home / "gitops", subject=KEY, kind="canary-step") if d.verdict == "fail"]
    assert aborted.digest in remote("show", "main:quarantine.yaml") and aborted.data["host"] in (a.host_url, b.host_url)
    assert "fuel_per_call" in aborted.explanation
