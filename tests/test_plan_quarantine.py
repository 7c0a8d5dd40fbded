"""The same bytes in dev and prod; a failed dev release quarantines them (an operator's case: the
next reconcile deleted prod, without approval or warning). Pure planning, no host."""

from __future__ import annotations

from wasmops.gitops.desired import DesiredState
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.plan import plan
from wasmops.gitops.plan_action import desired_spec

D = "sha256:" + "ab" * 32


def _m(ns: str, env: str, digest: str | None, annotations=None) -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate({
        "metadata": {"name": "greet-c", "namespace": ns, "labels": {"team": "core", "project": "p"},
                     "annotations": annotations or {}},
        "spec": {"environment": env, "moduleRef": {"repository": "greet-c", "tag": "v1", "digest": digest}}})


def _live(m: WasmModuleDeployment, digest: str) -> dict:
    return {"namespace": m.metadata.namespace, "name": m.metadata.name, **desired_spec(m, digest), "health": "Healthy"}


def test_a_quarantine_from_dev_stops_dev_and_keeps_prod_serving_for_a_person():
    dev, prod = _m("dev", "dev", D), _m("prod", "prod", D)
    ds = DesiredState(revision="t", deployments={dev.key: dev, prod.key: prod}, quarantine={D})
    acts = {a.key: a for a in plan(ds, [_live(dev, D), _live(prod, D)], registry="oci-layout:///x")}
    assert acts["dev/greet-c"].kind == "delete"
    assert acts["prod/greet-c"].kind == "skip" and "kept serving until a person decides" in acts["prod/greet-c"].reason
    # a person rolled prod back to nothing in Git: that is theirs to decide, and it is applied
    gone = _m("prod", "prod", None)
    ds = DesiredState(revision="t", deployments={gone.key: gone}, quarantine={D})
    assert [a.kind for a in plan(ds, [_live(prod, D)], registry="oci-layout:///x")] == ["delete"]


def test_a_release_awaiting_approval_is_held_whatever_the_host_runs():
    old = "sha256:" + "cd" * 32
    waiting = _m("prod", "prod", D, {"wasmops.dev/awaiting-approval": "run-1"})
    ds = DesiredState(revision="t", deployments={waiting.key: waiting})
    for live in ([], [_live(waiting, old)]):
        (a,) = plan(ds, live, registry="oci-layout:///x").actions
        assert a.kind == "skip" and "awaiting approval (release run run-1)" in a.reason
