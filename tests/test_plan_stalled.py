"""The reconciler reads the host's report: a module the host stalled (tampered at rest) is
re-deployed from the registry, never left as 'up to date'."""

from __future__ import annotations

import pytest

from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.plan import _plan_one, desired_spec

DIGEST = "sha256:" + "b" * 64


def _manifest() -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
        "metadata": {"name": "victim", "namespace": "dev", "labels": {"team": "qa", "project": "p"}},
        "spec": {"moduleRef": {"repository": "wasmops/victim", "tag": "t1", "digest": DIGEST}}})


@pytest.mark.parametrize("health,reason", [("Stalled", "BlobDigestMismatch"), ("Stalled", "SignatureInvalid")])
def test_a_stalled_module_is_redeployed_with_the_hosts_reason(health, reason):
    m = _manifest()
    live = {**desired_spec(m), "namespace": "dev", "name": "victim", "health": health, "health_reason": reason,
            "health_message": f"{reason}: details"}
    a = _plan_one("dev/victim", m, live, set(), "oci-layout:///tmp/x")
    assert a.kind == "update" and reason in a.reason and a.body["digest"] == DIGEST
    healthy = _plan_one("dev/victim", m, {**live, "health": "Healthy"}, set(), "oci-layout:///tmp/x")
    assert healthy.kind == "noop"
