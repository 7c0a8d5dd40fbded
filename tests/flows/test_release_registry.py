"""The release flow against a real OCI registry (Debian docker-registry) instead of the OCI layout."""

from __future__ import annotations

import httpx


def test_release_publishes_to_the_registry_and_the_host_admits_from_it(flow_env, registry, monkeypatch):
    from flows.release import release
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    monkeypatch.setenv("WASMOPS_REGISTRY", f"oci://{registry}")  # + repository wasmops/sum-wat
    res = release(module_dir=str(mods / "sum-wat"), auto_approve=True, ai_check=False)
    live = {m["name"]: m for m in host.modules() if m["namespace"] == "dev"}["sum-wat"]
    assert live["ref"].startswith(f"oci://{registry}/wasmops/sum-wat:")
    assert live["digest"] == res["manifest_digest"]
    assert live["signature"]["method"] == "key"
    tags = httpx.get(f"http://{registry}/v2/wasmops/sum-wat/tags/list").json()["tags"]
    assert res["tag"] in tags and f"sha256-{res['manifest_digest'].split(':')[1]}" in tags  # signature referrer
    assert host.run("dev", "sum-wat", b"[4,5]").json() == {"sum": 9}
    m = GitOpsRepo.from_settings(ws.settings).desired().deployments["dev/sum-wat"]
    assert m.spec.module_ref.digest == res["manifest_digest"]
