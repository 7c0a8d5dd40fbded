"""The reconciler against a real host process: plan, apply, drift (report and heal), prune,
quarantine, unsigned artifacts, dry runs. Each test uses its own namespace on the shared host."""

from __future__ import annotations

import itertools
import time

import pytest

from support.wat import FIXTURES
from wasmops.gitops.desired import DesiredState
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmops.errors import IntegrityError, TransientError, UserError, WasmopsError
from wasmops.host.admission import STEPS
from wasmops.host.client import HostClient
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.reconcile import apply, detect_drift, plan, reconcile
from support.wat import printing_wat

_ns = itertools.count()


wat = printing_wat


@pytest.fixture
def ns(request) -> str:
    return f"rc{next(_ns)}-{request.node.name.removeprefix('test_')[:20].replace('_', '-')}".rstrip("-")


@pytest.fixture
def registry(workspace) -> str:
    return f"oci-layout://{workspace.settings.oci_layout}"


def manifest(ns: str, name: str, tag: str, digest: str | None, layout, **rc) -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate({
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "core", "project": "rc"}},
        "spec": {"moduleRef": {"repository": f"oci-layout://{layout}", "tag": tag, "digest": digest},
                 "runtimeConfig": {"resources": {"cpu": "50m", "memory": rc.pop("memory", "16Mi")}, **rc}}})


def desired(*ms: WasmModuleDeployment, quarantine=()) -> DesiredState:
    return DesiredState(revision="test", deployments={m.key: m for m in ms}, quarantine=set(quarantine))


def publish(workspace, tag: str, text: str, **kw) -> str:
    return workspace.publish_wat(tag, wat(text), **kw)[1]


def served(host, ns: str) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in host.modules() if m["namespace"] == ns}


def test_create_then_everything_is_noop(host, workspace, ns, registry):
    digest = publish(workspace, f"{ns}-a", '{"v":1}')
    ds = desired(manifest(ns, "a", f"{ns}-a", digest, workspace.settings.oci_layout, env={"LEVEL": "1"}))
    p = plan(ds, host.modules(), registry=registry, namespaces={ns})
    assert [(a.kind, a.key) for a in p] == [("create", f"{ns}/a")]
    assert p.actions[0].body["ref"] == f"{registry}:{ns}-a" and p.actions[0].body["digest"] == digest

    rep = apply(p, host)
    c = rep.conditions[f"{ns}/a"]
    assert rep.ok and [a.key for a in rep.applied] == [f"{ns}/a"]
    assert (c["Ready"].status, c["SignatureVerified"].status, c["Admitted"].status) == ("True", "True", "True")
    assert c["Healthy"].status == "True" and c["Quarantined"].status == "False"
    assert served(host, ns) == {"a": digest}
    assert host.run(ns, "a", b"").json() == {"v": 1}

    again = plan(ds, host.modules(), registry=registry, namespaces={ns})
    assert [a.kind for a in again] == ["noop"] and not again.changes
    assert reconcile(ds, host, registry=registry, namespaces={ns}).ok


def test_digest_change_is_an_update_naming_both_digests(host, workspace, ns, registry):
    layout = workspace.settings.oci_layout
    d1, d2 = publish(workspace, f"{ns}-1", '{"v":1}'), publish(workspace, f"{ns}-2", '{"v":2}')
    assert reconcile(desired(manifest(ns, "m", f"{ns}-1", d1, layout)), host, registry=registry, namespaces={ns}).ok

    ds = desired(manifest(ns, "m", f"{ns}-2", d2, layout, memory="32Mi"))
    p = plan(ds, host.modules(), registry=registry, namespaces={ns})
    (a,) = p.actions
    assert a.kind == "update"
    assert f"digest {d1[:19]}… → {d2[:19]}…" in a.reason and "limits.memory 16Mi → 32Mi" in a.reason
    rep = apply(p, host)
    assert rep.ok and rep.conditions[a.key]["Ready"].status == "True"
    assert served(host, ns) == {"m": d2} and host.run(ns, "m", b"").json() == {"v": 2}


def test_drift_is_reported_then_healed(host, workspace, ns, registry):
    layout = workspace.settings.oci_layout
    d_git, d_hand = publish(workspace, f"{ns}-git", '{"git":1}'), publish(workspace, f"{ns}-hand", '{"hand":1}')
    ds = desired(manifest(ns, "d", f"{ns}-git", d_git, layout))
    assert reconcile(ds, host, registry=registry, namespaces={ns}).ok
    host.deploy(ns, "d", ref=f"{registry}:{ns}-hand", digest=d_hand, labels={"team": "core", "project": "rc"})

    drift = detect_drift(ds, host.modules(), namespaces={ns})
    assert {(d.key, d.field, d.git, d.live) for d in drift} >= {(f"{ns}/d", "digest", d_git, d_hand)}
    rep = reconcile(ds, host, registry=registry, mode="report", namespaces={ns})
    c = rep.conditions[f"{ns}/d"]
    assert c["DriftDetected"].status == "True" and "digest" in c["DriftDetected"].message
    assert c["Ready"].status == "False" and rep.next[f"{ns}/d"] == "stalled" and not rep.ok
    assert not rep.applied and served(host, ns) == {"d": d_hand}
    assert "| Drifted module |" in rep.to_markdown()

    healed = reconcile(ds, host, registry=registry, mode="heal", namespaces={ns})
    c = healed.conditions[f"{ns}/d"]
    assert healed.ok and c["Ready"].status == "True" and c["DriftDetected"].reason == "DriftHealed"
    assert served(host, ns) == {"d": d_git} and host.run(ns, "d", b"").json() == {"git": 1}
    assert reconcile(ds, host, registry=registry, mode="report", namespaces={ns}).drift == []


def test_module_added_by_hand_is_reported_then_pruned(host, workspace, ns, registry):
    layout = workspace.settings.oci_layout
    d = publish(workspace, f"{ns}-k", '{"k":1}')
    ds = desired(manifest(ns, "keep", f"{ns}-k", d, layout))
    host.deploy(ns, "extra", ref=f"{registry}:{ns}-k", digest=d, labels={"team": "x", "project": "y"})

    rep = reconcile(ds, host, registry=registry, mode="report", namespaces={ns})
    assert {(x.key, x.field) for x in rep.drift} == {(f"{ns}/extra", "module"), (f"{ns}/keep", "module")}
    assert rep.conditions[f"{ns}/extra"]["DriftDetected"].status == "True"
    assert served(host, ns) == {"extra": d}            # report mode applies nothing, not even the create

    kept = reconcile(ds, host, registry=registry, prune=False, namespaces={ns})
    assert served(host, ns) == {"extra": d, "keep": d}
    assert kept.next[f"{ns}/extra"] == "stalled" and kept.next[f"{ns}/keep"] == "done"

    healed = reconcile(ds, host, registry=registry, namespaces={ns})
    assert [(a.kind, a.key) for a in healed.applied] == [("delete", f"{ns}/extra")]
    assert healed.ok and served(host, ns) == {"keep": d}


def test_quarantined_digest_is_skipped(host, workspace, ns, registry):
    d = publish(workspace, f"{ns}-q", '{"q":1}')
    ds = desired(manifest(ns, "q", f"{ns}-q", d, workspace.settings.oci_layout), quarantine={d})
    rep = reconcile(ds, host, registry=registry, namespaces={ns})
    (a,) = rep.plan.actions
    c = rep.conditions[a.key]
    assert a.kind == "skip" and "quarantined" in a.reason
    assert c["Quarantined"].status == "True" and c["Ready"].status == "False" and rep.next[a.key] == "stalled"
    assert not rep.applied and served(host, ns) == {}


def test_unsigned_artifact_stalls_with_signature_not_verified(host, workspace, ns, registry):
    layout = workspace.settings.oci_layout
    good = publish(workspace, f"{ns}-s", '{"s":1}')
    bad = publish(workspace, f"{ns}-u", '{"u":1}', sign=False)
    ds = desired(manifest(ns, "signed", f"{ns}-s", good, layout), manifest(ns, "unsigned", f"{ns}-u", bad, layout))
    rep = reconcile(ds, host, registry=registry, namespaces={ns})
    c = rep.conditions[f"{ns}/unsigned"]
    assert c["Ready"].status == "False" and c["SignatureVerified"].status == "False"
    assert c["Admitted"].status == "False" and "not signed" in c["SignatureVerified"].message
    assert "at admission step 'signature'" in c["Admitted"].message        # named by the host's error body
    assert rep.next[f"{ns}/unsigned"] == "stalled" and c["Stalled"].status == "True"
    assert "a person must act" in c["Ready"].message
    assert rep.conditions[f"{ns}/signed"]["Ready"].status == "True"     # the other module still went out
    assert served(host, ns) == {"signed": good} and not rep.ok
    with pytest.raises(Exception, match="stalled"):
        rep.raise_for_status()


def test_policy_refusal_stalls_but_the_signature_was_verified(host, workspace, ns, registry):
    _, d = workspace.publish_wat(f"{ns}-f", (FIXTURES / "hostile" / "forbidden.wat").read_text())
    rep = reconcile(desired(manifest(ns, "f", f"{ns}-f", d, workspace.settings.oci_layout)), host,
                    registry=registry, namespaces={ns})
    c = rep.conditions[f"{ns}/f"]
    assert c["Admitted"].status == "False" and "PolicyDenied" in c["Admitted"].message
    assert c["SignatureVerified"].status == "True" and c["Ready"].reason == "AdmissionRefused"
    assert "at admission step 'policy'" in c["Admitted"].message and "policy step" in c["SignatureVerified"].message
    assert rep.next[f"{ns}/f"] == "stalled" and served(host, ns) == {}


def test_dry_run_applies_nothing(host, workspace, ns, registry):
    d = publish(workspace, f"{ns}-dry", '{"dry":1}')
    ds = desired(manifest(ns, "dry", f"{ns}-dry", d, workspace.settings.oci_layout))
    host.deploy(ns, "stray", ref=f"{registry}:{ns}-dry", digest=d, labels={"team": "x", "project": "y"})
    rep = reconcile(ds, host, registry=registry, dry_run=True, namespaces={ns})
    assert rep.plan.counts()["create"] == 1 and rep.plan.counts()["delete"] == 1
    assert not rep.applied and served(host, ns) == {"stray": d}
    assert rep.conditions[f"{ns}/dry"]["Admitted"].reason == "DryRun" and rep.ok


def test_not_released_is_skipped_and_namespaces_limit_pruning(host, workspace, ns, registry):
    other = f"{ns}-other"
    d = publish(workspace, f"{ns}-o", '{"o":1}')
    host.deploy(other, "x", ref=f"{registry}:{ns}-o", digest=d, labels={"team": "x", "project": "y"})
    ds = desired(manifest(ns, "later", "v1", None, workspace.settings.oci_layout))
    rep = reconcile(ds, host, registry=registry, namespaces={ns})
    assert [(a.kind, a.reason) for a in rep.plan] == [("skip", "not released: moduleRef.digest is empty")]
    assert rep.conditions[f"{ns}/later"]["Ready"].status == "Unknown" and rep.ok
    assert served(host, other) == {"x": d}


def test_unreachable_host_means_waiting(ns, registry, workspace):
    from support.host import free_port

    d = "sha256:" + "a" * 64
    ds = desired(manifest(ns, "a", "t", d, workspace.settings.oci_layout))
    rep = reconcile(ds, HostClient(f"http://127.0.0.1:{free_port()}", timeout=2), registry=registry)
    assert not rep.ok and rep.error and rep.next == {f"{ns}/a": "waiting"}
    with pytest.raises(TransientError):
        rep.raise_for_status()


class FakeHost:
    """The HostAPI in memory: no admission, every module Healthy."""

    def __init__(self, live: list[dict] | None = None):
        self.live = {f"{m['namespace']}/{m['name']}": m for m in live or []}
        self.calls = 0

    def modules(self) -> list[dict]:
        return list(self.live.values())

    def deploy(self, namespace, name, **body):
        self.calls += 1
        self.live[f"{namespace}/{name}"] = {"namespace": namespace, "name": name, "health": "Healthy", **body}
        return {"changed": True}

    def delete(self, namespace, name):
        self.calls += 1
        return self.live.pop(f"{namespace}/{name}")


def test_reasons_name_what_differs_and_env_values_stay_out(registry):
    m = manifest("dev", "e", "t", "sha256:" + "b" * 64, "/x", env={"TOKEN": "s3cret"}, trustLevel="standard")
    fake = FakeHost()
    assert apply(plan(desired(m), [], registry=registry), fake).ok
    fake.live["dev/e"].update(env={"TOKEN": "other"}, replicas=3, trust_level="sandboxed")
    (a,) = plan(desired(m), fake.modules(), registry=registry).actions
    assert a.kind == "update" and "s3cret" not in a.reason and "other" not in a.reason
    for part in ("env.TOKEN changed", "replicas 3 → 1", "trust_level sandboxed → standard"):
        assert part in a.reason


def test_not_healthy_in_time_means_waiting(registry):
    class Degraded(FakeHost):
        def deploy(self, namespace, name, **body):
            super().deploy(namespace, name, **body)
            self.live[f"{namespace}/{name}"]["health"] = "Degraded"

    m = manifest("dev", "slow", "t", "sha256:" + "c" * 64, "/x")
    rep = apply(plan(desired(m), [], registry=registry), Degraded(), timeout_s=0.2)
    c = rep.conditions["dev/slow"]
    assert (c["Admitted"].status, c["Healthy"].status, c["Healthy"].reason) == ("True", "False", "Timeout")
    assert rep.next["dev/slow"] == "waiting" and "Degraded" in c["Ready"].message
    assert rep.rows()[0] == {"module": "dev/slow", "action": "create", "ready": "False", "reason": "Unhealthy",
                             "next": "waiting", "message": c["Ready"].message}
    with pytest.raises(TransientError):
        rep.raise_for_status()


def test_no_op_plan_of_10000_manifests_calls_the_host_for_nothing(registry):
    ms = [manifest(f"ns{i % 10}", f"m{i}", "t", f"sha256:{i:064x}", "/x") for i in range(10_000)]
    ds = desired(*ms)
    fake = FakeHost()
    assert apply(plan(ds, [], registry=registry), fake, wait_healthy=False).ok
    live, fake.calls = fake.modules(), 0
    t = time.perf_counter()
    rep = apply(plan(ds, live, registry=registry), fake)
    elapsed = time.perf_counter() - t
    assert rep.plan.counts()["noop"] == 10_000 and fake.calls == 0 and rep.ok
    print(f"no-op reconcile of 10000 manifests: {elapsed:.2f}s (timed in bench/reconcile.py, not asserted)")


class RefusingHost(FakeHost):
    """Refuses every deploy with ``error`` (what a client raises from a host's error body)."""

    def __init__(self, error: Exception):
        super().__init__()
        self.error = error

    def deploy(self, namespace, name, **body):
        raise self.error


@given(step=st.sampled_from(STEPS), cls=st.sampled_from([UserError, WasmopsError, IntegrityError]))
@settings(max_examples=30)
def test_conditions_follow_the_step_the_host_names_not_the_error_class(step, cls):
    """Whatever the class, the step decides: a refusal after the signature step means it verified."""
    error = cls("refused")
    error.step = step
    d = "sha256:" + "b" * 64
    rep = reconcile(desired(manifest("st", "m", "t", d, "/nowhere")), RefusingHost(error), registry="oci-layout:///nowhere")
    c = rep.conditions["st/m"]
    assert c["Admitted"].status == "False" and f"at admission step {step!r}" in c["Admitted"].message
    verified = c.get("SignatureVerified")
    if STEPS.index(step) > STEPS.index("signature"):
        assert verified.status == "True"
    elif step == "signature":
        assert verified.status == "False"
    else:
        assert verified is None or verified.status != "True"
    assert (c.get("Quarantined") is not None and c["Quarantined"].status == "True") == (step == "quarantine")


class PickyHost(FakeHost):
    """Refuses the module named ``bad`` at the policy step, admits the rest."""

    def deploy(self, namespace, name, **body):
        if name == "bad":
            exc = UserError("denied")
            exc.step = "policy"
            raise exc
        return super().deploy(namespace, name, **body)


def test_raise_for_status_of_one_module_ignores_its_neighbour():
    from wasmops.errors import Stalled, Waiting

    d = "sha256:" + "c" * 64
    rep = reconcile(desired(manifest("rs", "good", "t", d, "/nowhere"), manifest("rs", "bad", "t", d, "/nowhere")),
                    PickyHost(), registry="oci-layout:///nowhere")
    rep.raise_for_status("rs/good")                        # its own module converged: a release of it goes on
    assert rep.converged("rs/good") and not rep.converged("rs/bad") and not rep.converged()
    with pytest.raises(Stalled, match="rs/bad") as info:
        rep.raise_for_status("rs/bad")
    assert not info.value.retryable
    with pytest.raises(Stalled):
        rep.raise_for_status()
    assert issubclass(Waiting, TransientError)             # an unreachable host stays retryable (test above)


def test_a_digest_the_registry_lacks_names_the_manifest_field(host, workspace, ns, registry):
    """An operator typed a digest that was never published: the stall now says where to look."""
    ds = desired(manifest(ns, "ghost", f"{ns}-ghost", "sha256:" + "9" * 64, workspace.settings.oci_layout))
    rep = reconcile(ds, host, registry=registry, namespaces={ns})
    c = rep.conditions[f"{ns}/ghost"]["Admitted"]
    assert c.status == "False" and "admission step 'pull'" in c.message and "spec.moduleRef" in c.message, c
    assert served(host, ns) == {}
