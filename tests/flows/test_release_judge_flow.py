"""The release flow's AI check is the release judge: a ×2 fuel-per-call regression is rolled back
and quarantined, with the per-metric table in the decision record; a first release is hold."""

from __future__ import annotations

import pytest

from support.gitops_helpers import add_manifest, release_commits
from wasmops.demo.modules import worker_module


def _module(d, loops: int, tag: str):
    return worker_module(d, "judged", loops, tag)


def test_2x_fuel_regression_is_rolled_back_by_the_release_judge(flow_env, tmp_path):
    from flows.release import AnomalyRolledBack, release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, _ = flow_env
    add_manifest(ws, "dev/judged", "judged")
    src = _module(tmp_path / "judged", 20000, "v1")
    v1 = release(module_dir=str(src), target="dev/judged", auto_approve=True, ai_requests=30)
    assert v1["ai_verdict"]["judge"] == "hold"  # no predecessor: nothing to compare with
    _module(src, 40000, "v2")
    with pytest.raises(AnomalyRolledBack, match="fuel_per_call"):
        release(module_dir=str(src), target="dev/judged", auto_approve=True, ai_requests=30)
    desired = GitOpsRepo.from_settings(ws.settings).desired()
    assert desired.deployments["dev/judged"].spec.module_ref.digest == v1["manifest_digest"]
    assert {m["name"]: m["digest"] for m in host.modules()}["judged"] == v1["manifest_digest"]
    assert len(release_commits(ws, "dev/judged")) == 2
    d = list_decisions(ws.settings.gitops_dir, subject="dev/judged", kind="release-verdict")[0]
    assert d.verdict == "fail" and d.data["baseline_digest"] == v1["manifest_digest"]
    assert d.data["baseline"].startswith("fresh")     # v1 admitted again beside v2, both sampled interleaved
    fuel = next(r for r in d.output["metrics"] if r["metric"] == "fuel_per_call")
    assert fuel["classification"] == "High" and fuel["p_value"] < 0.01 and fuel["n_canary"] == fuel["n_baseline"] == 30
    assert "canary" not in {m["name"]: m for m in host.modules()}["judged"]     # the fresh baseline is gone again
