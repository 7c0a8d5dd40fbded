"""The reconciler and a canary rollout in progress (pure: an in-memory host): Git's split is desired
state; a missing canary or another weight is drift, healed; promote and abort converge."""

from __future__ import annotations

from wasmops.gitops.desired import DesiredState
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.plan import detect_drift, plan
from wasmops.gitops.reconcile import reconcile

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
REG = "oci-layout:///tmp/oci"


class CanaryHost:
    """HostAPI in memory, with the canary calls."""

    def __init__(self):
        self.live: dict[str, dict] = {}
        self.calls: list[str] = []

    def modules(self):
        return [dict(m) for m in self.live.values()]

    def deploy(self, ns, name, **body):
        self.calls.append(f"deploy {body['digest'][:8]}")
        old = self.live.get(f"{ns}/{name}", {})
        self.live[f"{ns}/{name}"] = {"namespace": ns, "name": name, "health": "Healthy", **body,
                                     **({"canary": old["canary"]} if "canary" in old else {})}

    def delete(self, ns, name):
        self.live.pop(f"{ns}/{name}")

    def set_canary(self, ns, name, **body):
        self.calls.append(f"canary {body['digest'][:8]} {body['weight']}")
        self.live[f"{ns}/{name}"]["canary"] = {"digest": body["digest"], "weight": body["weight"]}

    def delete_canary(self, ns, name):
        self.calls.append("abort")
        self.live[f"{ns}/{name}"].pop("canary")

    def promote_canary(self, ns, name):
        self.calls.append("promote")
        m = self.live[f"{ns}/{name}"]
        m["digest"] = m.pop("canary")["digest"]


def _desired(digest=D2, tag="v2", progress: dict | None = None, quarantine=()) -> DesiredState:
    rollout = {"strategy": "canary", "steps": [{"weight": 10, "pause": "1s"}, {"weight": 100}]}
    if progress:
        rollout["inProgress"] = progress
    m = WasmModuleDeployment.model_validate({
        "metadata": {"name": "w", "namespace": "dev", "labels": {"team": "t", "project": "p"}},
        "spec": {"moduleRef": {"repository": "w", "tag": tag, "digest": digest}, "rollout": rollout}})
    return DesiredState(revision=None, deployments={"dev/w": m}, quarantine=set(quarantine))


def _progress(weight: int, step: int = 0) -> dict:
    return {"stable": {"tag": "v1", "digest": D1}, "step": step, "weight": weight}


def test_restart_mid_rollout_serves_both_at_the_recorded_weight_and_drift_is_healed():
    host = CanaryHost()
    git = _desired(progress=_progress(10))
    rep = reconcile(git, host, registry=REG)            # an empty host (a fresh one): stable, then canary
    assert rep.ok and host.calls == [f"deploy {D1[:8]}", f"canary {D2[:8]} 10"]
    assert host.live["dev/w"]["digest"] == D1 and host.live["dev/w"]["canary"] == {"digest": D2, "weight": 10}
    assert plan(git, host.modules(), registry=REG).counts()["noop"] == 1
    host.live["dev/w"]["canary"]["weight"] = 60          # changed by hand
    (d,) = detect_drift(git, host.modules())
    assert (d.field, d.git, d.live) == ("canary.weight", 10, 60)
    assert "canary.weight: host has 60, Git has 10" in d.message
    host.live["dev/w"].pop("canary")                     # lost
    assert {d.field for d in detect_drift(git, host.modules())} == {"canary.digest", "canary.weight"}
    rep = reconcile(git, host, registry=REG, mode="report")
    assert not rep.ok and "canary" not in host.live["dev/w"]
    host.calls.clear()
    assert reconcile(git, host, registry=REG).ok and host.calls == [f"canary {D2[:8]} 10"]


def test_promote_abort_and_quarantine():
    host = CanaryHost()
    reconcile(_desired(progress=_progress(50, 1)), host, registry=REG)
    host.calls.clear()
    assert reconcile(_desired(), host, registry=REG).ok          # inProgress removed: promote, no new admission
    assert host.calls[0] == "promote" and host.live["dev/w"]["digest"] == D2 and "canary" not in host.live["dev/w"]
    host2 = CanaryHost()
    reconcile(_desired(progress=_progress(10)), host2, registry=REG)
    host2.calls.clear()
    reverted = _desired(digest=D1, tag="v1", progress=_progress(10))   # reverted: a stale record, no canary
    assert reconcile(reverted, host2, registry=REG).ok and host2.calls == ["abort"]
    host3 = CanaryHost()
    reconcile(_desired(progress=_progress(10), quarantine={D2}), host3, registry=REG)
    assert host3.live["dev/w"]["digest"] == D1 and "canary" not in host3.live["dev/w"]
