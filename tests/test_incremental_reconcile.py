"""The incremental reconciler gives what a full reconcile gives, pass after pass, on random Git edits,
hand-made drift, refused admissions and quarantine changes; an unchanged pass is skipped."""

from __future__ import annotations

import copy

from hypothesis import given, settings, strategies as st

from wasmops.gitops.desired import Deployments, DesiredState, ManifestError
from wasmops.errors import PolicyDenied
from wasmops.gitops.incremental import IncrementalReconciler
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.reconcile import reconcile

REG = "oci-layout:///tmp/oci"
REFUSED = f"sha256:{4:064x}"      # the host's admission refuses this digest


class FakeHost:
    def __init__(self):
        self.live: dict[str, dict] = {}
        self.calls = 0

    def modules(self) -> list[dict]:
        return [dict(v) for _, v in sorted(self.live.items())]

    def deploy(self, namespace, name, **body):
        self.calls += 1
        if body["digest"] == REFUSED:
            raise PolicyDenied("refused by policy")
        self.live[f"{namespace}/{name}"] = {"namespace": namespace, "name": name, "health": "Healthy", **body}
        return {}

    def delete(self, namespace, name):
        self.calls += 1
        return self.live.pop(f"{namespace}/{name}")


def module(key: str, n: int, env: str = "a") -> WasmModuleDeployment:
    ns, name = key.split("/")
    return WasmModuleDeployment.model_validate({
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p"}},
        "spec": {"moduleRef": {"repository": name, "tag": "v1", "digest": f"sha256:{n:064x}" if n else None},
                 "runtimeConfig": {"env": {"E": env}}}})


KEYS = ["a/m1", "a/m2", "b/m3", "b/m4"]
step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.integers(0, 5)),        # 0: not released
    st.tuples(st.just("remove"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("broken"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("quarantine"), st.none(), st.integers(1, 5)),
    st.tuples(st.just("drift-env"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("drift-delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("drift-extra"), st.just("c/x"), st.none()),
    st.tuples(st.just("pass"), st.none(), st.none()),
)


class World:
    def __init__(self):
        self.mods: dict[str, WasmModuleDeployment] = {k: module(k, 1) for k in KEYS}
        self.broken: dict[str, ManifestError] = {}
        self.quarantine: set[str] = set()
        self.rev = 0
        self.touched: set[str] = set()

    def desired(self, delta: bool = False) -> DesiredState:
        """A new state; with ``delta``, it names the keys changed since the last one (as the loader does)."""
        self.rev += 1
        ds = DesiredState(str(self.rev), Deployments(self.mods), quarantine=set(self.quarantine),
                          errors=sorted(self.broken.values(), key=lambda e: e.file))
        if delta:
            ds.base_revision, ds.changed = str(self.rev - 1), frozenset(self.touched)
        self.touched = set()
        return ds

    def edit(self, op, key, n, hosts) -> bool:
        """Apply one step; True if Git changed."""
        if key:
            self.touched.add(key)
        if op == "set":
            self.mods[key] = module(key, n)
            self.broken.pop(key, None)
        elif op == "remove":
            self.mods.pop(key, None)
            self.broken.pop(key, None)
        elif op == "broken":
            self.mods.pop(key, None)
            ns = key.split("/")[0]
            self.broken[key] = ManifestError(f"modules/{key}.yaml", "spec.replicas: bad", key=key, namespace=ns)
        elif op == "quarantine":
            self.quarantine ^= {f"sha256:{n:064x}"}
        else:
            for h in hosts:
                drift(h, op, key)
            return False
        return op != "pass" or False


def drift(h: FakeHost, op: str, key: str) -> None:
    if op == "drift-env" and key in h.live:
        h.live[key] = {**h.live[key], "env": {"E": "by-hand"}}
    elif op == "drift-delete":
        h.live.pop(key, None)
    elif op == "drift-extra":
        h.live[key] = {"namespace": "c", "name": "x", "health": "Healthy", "digest": f"sha256:{9:064x}",
                       "labels": {}, "env": {}}


def view(rep, host):
    rows = sorted((r["module"], r["action"], r["ready"], r["reason"], r["next"], r["message"]) for r in rep.rows())
    return rows, sorted(map(str, rep.drift)), rep.plan.counts(), rep.ok, host.live


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=14), mode=st.sampled_from(["heal", "report"]),
       delta=st.booleans())
def test_incremental_equals_full(steps, mode, delta):
    world, h_inc, h_full = World(), FakeHost(), FakeHost()
    inc = IncrementalReconciler(h_inc, registry=REG, mode=mode, wait_healthy=False)
    ds = world.desired()
    for op, key, n in [("pass", None, None), *steps, ("pass", None, None)]:
        if world.edit(op, key, n, (h_inc, h_full)):
            ds = world.desired(delta)
        got = inc.reconcile(ds)
        want = reconcile(ds, h_full, registry=REG, mode=mode, wait_healthy=False)
        assert view(got, h_inc) == view(want, h_full), (op, key, n)
        assert copy.deepcopy(h_inc.live) == h_full.live


def test_unchanged_pass_is_skipped_and_a_change_replans_one():
    world, host = World(), FakeHost()
    inc = IncrementalReconciler(host, registry=REG, wait_healthy=False)
    ds = world.desired()
    assert inc.reconcile(ds).ok and len(host.live) == 4
    assert not inc.reconcile(ds).skipped          # the first apply changed the host: re-read once
    host.calls = 0
    rep = inc.reconcile(ds)
    assert rep.skipped and rep.ok and host.calls == 0 and inc.replanned == 0
    world.mods["a/m2"] = module("a/m2", 3)
    rep = inc.reconcile(world.desired())
    assert inc.replanned == 1 and [a.key for a in rep.applied] == ["a/m2"] and rep.ok
    drift(host, "drift-env", "b/m3")
    rep = inc.reconcile(world.desired())
    assert [a.key for a in rep.applied] == ["b/m3"] and rep.drift and host.live["b/m3"]["env"] == {"E": "a"}
