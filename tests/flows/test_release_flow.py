"""The release flow against a real Prefect API, a real git repo, the real host and the OCI layout."""

from __future__ import annotations


import pytest

from support.flows_helpers import run_in_thread
from support.gitops_helpers import add_manifest, copy_module, release_commits

from wasmops.demo.run import FAULTS

# right answers under its module.yaml's 16Mi, but it takes 12 MiB: under a deployment's 8Mi it exits 3.
# (It used to be a module that exits 3 under any env, released to a deployment with env: a case
# without env ran in verify under an env `wasmops test` never gave it; such a case is now not run.)
MEMORY_HUNGRY = (FAULTS / "memory-hungry-sum.wat").read_text()


def test_dev_release_serves_commits_once_and_rerun_is_cached(flow_env):
    from flows.release import release
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    res = release(module_dir=str(mods / "sum-wat"), auto_approve=True)
    key = "dev/sum-wat"
    assert res["commit_changed"] is True
    m = GitOpsRepo.from_settings(ws.settings).desired().deployments[key]
    assert m.spec.module_ref.digest == res["manifest_digest"]
    live = {x["name"]: x for x in host.modules() if x["namespace"] == "dev"}
    assert live["sum-wat"]["digest"] == res["manifest_digest"]
    assert host.run("dev", "sum-wat", b"[1,2,3]").json() == {"sum": 6}
    commits = release_commits(ws, key)
    assert len(commits) == 1
    msg = GitOpsRepo.from_settings(ws.settings).repo.commit(commits[0]).message
    assert "Wasmops-Bundle-Digest: sha256:" in msg and "Wasmops-Flow-Run:" in msg
    again = release(module_dir=str(mods / "sum-wat"), auto_approve=True)
    assert again["commit_changed"] is False and release_commits(ws, key) == commits


def test_auto_approve_is_refused_for_prod(flow_env):
    from flows.release import release
    from wasmops.errors import UserError

    ws, host, mods = flow_env
    add_manifest(ws, "prod/sum-wat", "sum-wat")
    with pytest.raises(UserError, match="dev only"):
        release(module_dir=str(mods / "sum-wat"), target="prod/sum-wat", auto_approve=True)


def _paused_run(target: str, timeout=90):
    """This test's paused release of ``target``: a run another test left paused in this worker's
    Prefect server (a release cut off by a timeout on a busy machine) is not it."""
    import time

    from flows.ops import pending_approvals

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in pending_approvals() if r.get("form_ready", True) and f"`{target}`" in (r["description"] or "")]
        if runs:
            return runs[0]
        time.sleep(0.3)
    raise AssertionError("no paused run appeared")


def test_prod_release_pauses_and_cli_style_approval_resumes_it(flow_env):
    from flows.ops import answer
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions

    ws, host, mods = flow_env
    add_manifest(ws, "prod/sum-wat", "sum-wat") if "prod/sum-wat" not in _keys(ws) else None
    t = run_in_thread(release, module_dir=str(mods / "sum-wat"), target="prod/sum-wat", approval_timeout_s=120)
    run = _paused_run("prod/sum-wat")
    assert "Approve release of `prod/sum-wat`" in run["description"]
    answer(run["id"], approve=True, reason="change window open", approver="ann")
    res = t.result(120)
    assert res["approval"]["approver"] == "ann"
    # answering again, an unknown run, or a short id: one line each, at once (tracebacks before)
    import uuid

    from wasmops.errors import NotFound, UserError

    from flows.ops import wait_for_state

    wait_for_state(run["id"], {"Completed"})
    with pytest.raises(UserError, match="the run is Completed: it no longer waits for an answer"):
        answer(run["id"], approve=True, reason="again", approver="ann")
    with pytest.raises(NotFound, match="no such flow run"):
        answer(str(uuid.uuid4()), approve=True, reason="x", approver="ann")
    with pytest.raises(UserError, match="not a flow run id"):
        answer(run["id"][:8], approve=True, reason="x", approver="ann")
    assert {x["name"]: x for x in host.modules() if x["namespace"] == "prod"}["sum-wat"]["digest"] == res["manifest_digest"]
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(ws.settings)
    assert repo.desired().deployments["prod/sum-wat"].awaiting_approval is None      # the approval's commit
    assert repo.repo.head.commit.message.startswith("approve release of prod/sum-wat") or \
        any(c.message.startswith("approve release of prod/sum-wat") for c in repo.repo.iter_commits(max_count=20))
    d = list_decisions(ws.settings.gitops_dir, subject="prod/sum-wat", kind="approval")[0]
    assert d.verdict == "approved" and d.actor == "ann" and d.explanation == "change window open"
    assert d.policy_rule == "prod requires approval"


def _keys(ws):
    from wasmops.gitops.repo import GitOpsRepo

    return set(GitOpsRepo.from_settings(ws.settings).desired().deployments)


def test_rejection_and_timeout_roll_back_the_commit(flow_env, tmp_path):
    from flows._approval import ApprovalRejected
    from flows.ops import answer
    from flows.release import release
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    src = copy_module(mods / "sum-wat", tmp_path / "sum2", "sum-two")
    add_manifest(ws, "prod/sum-two", "sum-two")
    t = run_in_thread(release, module_dir=str(src), target="prod/sum-two", approval_timeout_s=120)
    run = _paused_run("prod/sum-two")
    # while it waits, Git holds the new digest marked as awaiting approval: a reconcile (the scheduled
    # one, or the one the commit event triggers) keeps it off the host (an operator found it live)
    from wasmops.gitops.reconcile import reconcile

    waiting = GitOpsRepo.from_settings(ws.settings).desired().deployments["prod/sum-two"]
    assert waiting.spec.module_ref.digest and waiting.awaiting_approval == run["id"]
    rep = reconcile(GitOpsRepo.from_settings(ws.settings).desired(), host, registry=ws.settings.registry_base,
                    mode="heal", namespaces={"prod"})
    held = {a.key: a for a in rep.plan.actions}["prod/sum-two"]
    assert held.kind == "skip" and "awaiting approval" in held.reason, held
    assert "sum-two" not in {x["name"] for x in host.modules() if x["namespace"] == "prod"}
    answer(run["id"], approve=False, reason="not today", approver="bob")
    with pytest.raises(ApprovalRejected, match="not today"):
        t.result(120)
    repo = GitOpsRepo.from_settings(ws.settings)
    assert repo.desired().deployments["prod/sum-two"].spec.module_ref.digest is None
    assert repo.desired().deployments["prod/sum-two"].awaiting_approval is None
    assert "sum-two" not in {x["name"] for x in host.modules() if x["namespace"] == "prod"}
    with pytest.raises(ApprovalRejected, match="no answer within 2s"):
        release(module_dir=str(src), target="prod/sum-two", approval_timeout_s=2)
    assert repo.desired().deployments["prod/sum-two"].spec.module_ref.digest is None


def test_failed_verify_rolls_back_and_quarantines(flow_env, tmp_path, monkeypatch):
    """Verify through the host fails where the sandbox passed. The test step now runs under the
    deployment's limits, which catches this module's memory before any commit; the seam below gives
    it module.yaml's limits instead (a sandbox that differs from the host), so verify is what fails."""
    import flows.release as flow_module
    from flows.release import VerifyFailed, release
    from wasmops.errors import QuarantinedError
    from wasmops.gitops.repo import GitOpsRepo

    real_test = flow_module.test_module
    monkeypatch.setattr(flow_module, "test_module", lambda src, built, **kw: real_test(src, built))
    ws, host, mods = flow_env
    d = tmp_path / "envprobe"
    d.mkdir()
    (d / "probe.wat").write_text(MEMORY_HUNGRY)
    (d / "module.yaml").write_text("name: envprobe\nlanguage: wat\nsources: [probe.wat]\nlimits: {memory: 16Mi}\n"
                                   "tests:\n  - {name: ok, stdin: '[1,2,3]', expect_stdout: '{\"sum\": 6}'}\n")
    add_manifest(ws, "dev/envprobe", "envprobe", memory="8Mi")
    with pytest.raises(VerifyFailed, match="exit 3"):
        release(module_dir=str(d), target="dev/envprobe", auto_approve=True)
    repo = GitOpsRepo.from_settings(ws.settings)
    desired = repo.desired()
    assert desired.deployments["dev/envprobe"].spec.module_ref.digest is None
    assert len(desired.quarantine) >= 1
    assert "envprobe" not in {x["name"] for x in host.modules() if x["namespace"] == "dev"}
    with pytest.raises(QuarantinedError):
        release(module_dir=str(d), target="dev/envprobe", auto_approve=True)


def test_a_mark_left_by_a_crashed_run_is_cleared_by_the_next_release(flow_env, tmp_path):
    """A run that crashed while it waited for approval leaves `awaiting-approval` in Git; a later
    release that needs no person must clear it, or every reconcile would hold the module for good."""
    from flows.release import release
    from wasmops.gitops.manifest import AWAITING_APPROVAL
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    src = copy_module(mods / "sum-wat", tmp_path / "stale", "stale-mark")
    add_manifest(ws, "dev/stale-mark", "stale-mark")
    repo = GitOpsRepo.from_settings(ws.settings)
    path = repo.manifest_file("dev/stale-mark")
    path.write_text(path.read_text().replace("  labels:", f"  annotations:\n    {AWAITING_APPROVAL}: crashed-run\n  labels:", 1))
    repo.repo.index.add([str(path.relative_to(repo.path))])
    repo.repo.index.commit("a crashed run's mark")
    assert repo.desired().deployments["dev/stale-mark"].awaiting_approval == "crashed-run"
    res = release(module_dir=str(src), target="dev/stale-mark", auto_approve=True)
    assert repo.desired().deployments["dev/stale-mark"].awaiting_approval is None
    assert {x["name"]: x["digest"] for x in host.modules() if x["namespace"] == "dev"}["stale-mark"] == res["manifest_digest"]
