"""Reconcile benchmark: the cost of a no-op reconcile of 10,000 modules. Prints figures; asserts nothing.

1. plan() + apply() of 10,000 manifests against an in-memory host that already serves them (median of 5);
   also detect_drift() and a whole reconcile() (which adds detect_drift) on the same state.
2. Loading the same 10,000 manifests as YAML files with load_desired_state (median of 3).
3. The same 10,000 manifests committed to a Git repo, reconciled as an agent does it, pass after pass
   (DesiredLoader + IncrementalReconciler), against the full path (load_desired_state_at + reconcile):
   a no-op pass at an unchanged revision (goal <= 20 ms) and a pass after a commit that changes one
   manifest (goal <= 100 ms end to end: diff, parse, plan, apply).

Run: .venv/bin/python bench/reconcile.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wasmops.gitops.desired import DesiredState, load_desired_state, load_desired_state_at
from wasmops.gitops.desired_loader import DesiredLoader
from wasmops.gitops.incremental import IncrementalReconciler
from wasmops.gitops.manifest import WasmModuleDeployment, dump_document
from wasmops.gitops.reconcile import apply, detect_drift, plan, reconcile

REGISTRY = "oci-layout:///tmp/bench-oci"


class FakeHost:
    """HostAPI in memory: admits everything, every module Healthy."""

    def __init__(self):
        self.live: dict[str, dict] = {}
        self.calls = 0

    def modules(self) -> list[dict]:
        return list(self.live.values())

    def deploy(self, namespace: str, name: str, **body) -> dict:
        self.calls += 1
        self.live[f"{namespace}/{name}"] = {"namespace": namespace, "name": name, "health": "Healthy", **body}
        return {"changed": True}

    def delete(self, namespace: str, name: str) -> dict:
        self.calls += 1
        return self.live.pop(f"{namespace}/{name}")


def manifests(n: int) -> list[WasmModuleDeployment]:
    return [WasmModuleDeployment.model_validate({
        "metadata": {"name": f"mod-{i}", "namespace": f"team-{i % 20}",
                     "labels": {"team": f"team-{i % 20}", "project": f"p{i % 50}"}},
        "spec": {"moduleRef": {"repository": f"mod-{i}", "tag": "v1", "digest": f"sha256:{i:064x}"},
                 "runtimeConfig": {"resources": {"cpu": "100m", "memory": "16Mi"}, "env": {"LEVEL": str(i % 3)}}},
    }) for i in range(n)]


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(n: int = 10_000) -> None:
    ms = manifests(n)
    ds = DesiredState(revision="bench", deployments={m.key: m for m in ms})
    host = FakeHost()
    first = apply(plan(ds, [], registry=REGISTRY), host, wait_healthy=False)
    assert first.ok and len(host.live) == n
    live, host.calls = host.modules(), 0

    t_plan, p = timed(lambda: plan(ds, live, registry=REGISTRY), 5)
    t_noop, rep = timed(lambda: apply(plan(ds, live, registry=REGISTRY), host), 5)
    assert p.counts()["noop"] == n and rep.ok and host.calls == 0, (p.summary(), host.calls)
    t_drift, drift = timed(lambda: detect_drift(ds, live), 5)
    t_rec, full = timed(lambda: reconcile(ds, host, registry=REGISTRY), 5)
    assert drift == [] and full.ok and host.calls == 0
    print(f"no-op reconcile of {n} manifests: {t_noop:.3f} s  (plan() + apply(), median of 5)")
    print(f"  plan() alone: {t_plan:.3f} s; detect_drift(): {t_drift:.3f} s; "
          f"reconcile() incl. modules() and drift: {t_rec:.3f} s")

    with tempfile.TemporaryDirectory(prefix="wasmops-bench-") as td:
        root = Path(td)
        for m in ms:
            d = root / "modules" / m.metadata.namespace
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{m.metadata.name}.yaml").write_text(dump_document(m))
        t_load, loaded = timed(lambda: load_desired_state(root), 3)
        assert len(loaded.deployments) == n
        print(f"load_desired_state of {n} YAML files: {t_load:.2f} s  (median of 3)")
        git_passes(root, n)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def git_passes(root: Path, n: int) -> None:
    """Section 3: the agent's pass (incremental) against the full path, on a real Git repo."""
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "10k")
    t_cold, ds = timed(lambda: load_desired_state_at(root, "main"), 1)
    host = FakeHost()
    apply(plan(ds, [], registry=REGISTRY), host, wait_healthy=False)
    t_full, rep = timed(lambda: reconcile(load_desired_state_at(root, "main"), host, registry=REGISTRY), 1)
    assert rep.ok and host.calls == n
    loader, rec = DesiredLoader(root), IncrementalReconciler(host, registry=REGISTRY)
    rec.reconcile(loader.load("main"))
    rec.reconcile(loader.load("main"))
    t_noop, rep = timed(lambda: rec.reconcile(loader.load("main")), 20)
    assert rep.skipped and rep.ok and loader.last.mode == "cached"
    one = []
    for i in range(5):
        f = root / "modules" / "team-3" / f"mod-{3 + 20 * i}.yaml"
        f.write_text(f.read_text().replace("LEVEL: '0'", "LEVEL: changed").replace("LEVEL: '1'", "LEVEL: changed")
                     .replace("LEVEL: '2'", "LEVEL: changed"))
        git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-am", f"change {i}")
        t, rep = timed(lambda: rec.reconcile(loader.load("main")), 1)
        assert loader.last.mode == "incremental" and loader.last.parsed == 1 and len(rep.applied) == 1, rep.summary()
        assert rep.ok and rec.replanned <= 2   # the new change, and the one applied last pass (now a noop)
        one.append(t)
    t_one = statistics.median(one)
    print(f"Git, {n} manifests, a full pass (load_desired_state_at + reconcile): {t_full:.2f} s "
          f"(cold load alone {t_cold:.2f} s)")
    print(f"  no-op pass at an unchanged revision (DesiredLoader + IncrementalReconciler): "
          f"{t_noop * 1000:.1f} ms (median of 20; goal <= 20 ms) = {t_full / t_noop:,.0f}x faster than a full pass")
    print(f"  pass after a commit changing 1 manifest (git diff, parse 1 file, plan, apply): "
          f"{t_one * 1000:.1f} ms (median of 5; goal <= 100 ms) = {t_full / t_one:,.0f}x faster than a full pass")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
