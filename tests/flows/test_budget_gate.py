"""The budget gate in the release flow: strict blocks with the figures, advisory pauses for a person."""

from __future__ import annotations

import pytest

from support.flows_helpers import run_in_thread
from support.gitops_helpers import add_budget, add_manifest, copy_module, release_commits


def test_strict_budget_blocks_the_release_before_commit(flow_env, tmp_path):
    from flows.release import BudgetBlocked, release
    from wasmops.gitops.decisions import list_decisions

    ws, host, mods = flow_env
    add_budget(ws, "tight", "0.01", "strict")
    src = copy_module(mods / "sum-wat", tmp_path / "hog", "hog")
    add_manifest(ws, "dev/hog", "hog", team="tight", replicas=100, memory="64Mi")
    with pytest.raises(BudgetBlocked) as e:
        release(module_dir=str(src), target="dev/hog", auto_approve=True, ai_check=False)
    assert "team tight" in str(e.value) and "0.01 USD strict budget" in str(e.value)  # the figures
    assert release_commits(ws, "dev/hog") == []
    d = list_decisions(ws.settings.gitops_dir, subject="dev/hog", kind="budget")[0]
    assert d.verdict == "blocked" and d.data["figures"]


def test_advisory_budget_pauses_with_the_figures_even_with_auto_approve(flow_env, tmp_path):
    import time

    from flows.ops import answer, pending_approvals
    from flows.release import release

    ws, host, mods = flow_env
    add_budget(ws, "loose", "0.01", "advisory")
    src = copy_module(mods / "sum-wat", tmp_path / "spender", "spender")
    add_manifest(ws, "dev/spender", "spender", team="loose", replicas=10, memory="16Mi")
    fut = run_in_thread(release, module_dir=str(src), target="dev/spender", auto_approve=True, ai_check=False,
                        approval_timeout_s=120)
    deadline = time.monotonic() + 90
    runs = []
    while time.monotonic() < deadline and not runs:
        runs = [r for r in pending_approvals() if "dev/spender" in r["description"]]
        time.sleep(0.3)
    assert runs, "the advisory budget did not pause the release"
    assert "loose" in runs[0]["description"] and "0.01" in runs[0]["description"]
    answer(runs[0]["id"], approve=True, reason="one-off load test", approver="fin")
    res = fut.result(120)
    assert res["budget"] == "needs_approval" and res["approval"]["approver"] == "fin"
    assert len(release_commits(ws, "dev/spender")) == 1
