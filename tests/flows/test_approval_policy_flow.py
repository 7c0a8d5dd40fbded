"""ApprovalPolicy against real Prefect, a real GitOps repo, the real host and real ECDSA keys.

The counting rules are tested in tests/test_approval_policy.py; here, that the run stays Paused while
answers arrive, refuses the bad ones with the reason, and releases once 2 of 3 have signed.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from support.flows_helpers import run_in_thread
from support.gitops_helpers import add_manifest, copy_module

TARGET = "prod/sum-pol"


@pytest.fixture(scope="module")
def approvers(flow_env, tmp_path_factory):
    """alice, bob, rita in sre; dave in security; a 2-of-sre policy over team pol in Git."""
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.supply.signing import generate_keypair

    ws, _, _ = flow_env
    d = tmp_path_factory.mktemp("approver-keys")
    files, keys = {}, {}
    for group, name in (("sre", "alice"), ("sre", "bob"), ("sre", "rita"), ("security", "dave")):
        generate_keypair(d / f"{name}.key", d / f"{name}.pub")
        keys[name] = d / f"{name}.key"
        files[f"approvers/{group}/{name}.pub"] = (d / f"{name}.pub").read_text()
    files["approvals/policies/prod-pol.yaml"] = yaml.safe_dump({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "ApprovalPolicy", "metadata": {"name": "prod-pol"},
        "spec": {"selector": {"namespaces": ["prod"], "matchLabels": {"team": "pol"}},
                 "rules": [{"group": "sre", "count": 2}], "expiry": "1h"}})
    GitOpsRepo.from_settings(ws.settings).write_files(files, "approvers and the prod-pol ApprovalPolicy")
    add_manifest(ws, TARGET, "sum-pol", team="pol")
    return keys


def _state(run_id: str) -> str:
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(run_id)).state.name


def _waiting(target: str, pred=lambda st: True, timeout: float = 120) -> dict:
    """The paused run of ``target`` once its policy status satisfies ``pred`` (polled, with a deadline)."""
    from flows.ops import pending_approvals

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in pending_approvals():
            st = r.get("policy")
            if st and st["target"] == target and r["form_ready"] and pred(st):
                return r
        time.sleep(0.3)
    raise AssertionError(f"no paused run of {target} in the expected state")


def _cli(*args: str):
    from typer.testing import CliRunner

    from wasmops.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _statement(keys, name, run_id, digest, **over):
    from wasmops.approvals import Statement, sign_statement

    fields = {"run_id": run_id, "target": TARGET, "manifest_digest": digest, "decision": "approve",
              "reason": "looks fine", "approver": name, **over}
    return sign_statement(Statement(**fields), keys[name].read_bytes())


def test_two_of_three_with_every_refusal_in_between(flow_env, approvers, tmp_path):
    from flows.ops import answer, hand_in, submit_signed
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    keys = approvers
    src = copy_module(mods / "sum-wat", tmp_path / "sum-pol", "sum-pol")
    t = run_in_thread(release, module_dir=str(src), target=TARGET, approval_timeout_s=240, releaser="rita",
                      ai_check=False)
    run = _waiting(TARGET)
    rid, st = run["id"], run["policy"]
    assert st["needs"] == ["2 more from sre (policy prod-pol)"] and "does not count" in run["description"]

    r = _cli("approve", rid, "--key", str(keys["alice"]), "--reason", "tests green")
    assert r.exit_code == 0 and "still needed: 1 more from sre (policy prod-pol)" in r.output, r.output
    assert _waiting(TARGET, lambda s: s["approved_by"] == ["alice"])["id"] == rid
    r = _cli("approvals")
    assert "needs 1 more from sre (policy prod-pol); approved by alice" in r.output, r.output
    r = _cli("approve", rid, "--reason", "unsigned from the CLI")   # refused before it reaches the run
    assert r.exit_code != 0 and "counts only signed approvals" in str(r.exception)

    digest = st["manifest_digest"]
    old = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat(timespec="seconds")
    bad = {
        "outside-group": _statement(keys, "dave", rid, digest),
        "self-approval": _statement(keys, "rita", rid, digest),
        "expired": _statement(keys, "bob", rid, digest, time=old),
        "replay": _statement(keys, "bob", "00000000-0000-0000-0000-000000000000", digest),
    }
    for code, sub in bad.items():
        v = hand_in(rid, sub)
        assert (v["accepted"], v["code"]) == (False, code), v
        assert _state(rid) == "Paused"

    answer(rid, approve=True, reason="clicked in the UI", approver="ann")   # the unsigned Prefect form
    run = _waiting(TARGET, lambda s: any("unsigned" in r for r in s["refused"]))
    assert run["id"] == rid and run["policy"]["needs"] == ["1 more from sre (policy prod-pol)"]
    assert len(run["policy"]["refused"]) == 5 and _state(rid) == "Paused"

    v = submit_signed(rid, private_key_pem=keys["bob"].read_bytes(), approve=True, reason="second pair of eyes")
    assert v["accepted"] is True and v["needs"] == []
    res = t.result(180)
    assert res["approval"]["policies"] == ["prod-pol"]
    assert [a["approver"] for a in res["approval"]["approvals"]] == ["alice", "bob"]
    live = {x["name"]: x for x in host.modules() if x["namespace"] == "prod"}
    assert live["sum-pol"]["digest"] == res["manifest_digest"]

    d = list_decisions(ws.settings.gitops_dir, subject=TARGET, kind="approval")[0]
    assert d.verdict == "approved" and d.actor == "alice, bob" and d.inputs["releaser"] == "rita"
    assert [r["code"] for r in d.data["refused"]] == [*bad, "unsigned"]
    assert all(a["bundle"] and a["statement"] for a in d.data["approvals"])
    repo = GitOpsRepo.from_settings(ws.settings).repo
    msg = next(c.message for c in repo.iter_commits(max_count=50) if f"Wasmops-Decision: {d.id}" in c.message)
    assert msg.count("Wasmops-Approval: ") == 2 and f"Wasmops-Approves: {res['commit']}" in msg
    assert "Wasmops-Releaser: rita" in repo.commit(res["commit"]).message


def test_the_timeout_rejects_and_rolls_back(flow_env, approvers, tmp_path):
    from flows._approval import ApprovalRejected
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, mods = flow_env
    add_manifest(ws, "prod/sum-pol2", "sum-pol2", team="pol")
    src = copy_module(mods / "sum-wat", tmp_path / "sum-pol2", "sum-pol2")
    with pytest.raises(ApprovalRejected, match=r"no decision within 3s \(still needed: 2 more from sre"):
        release(module_dir=str(src), target="prod/sum-pol2", approval_timeout_s=3, releaser="rita", ai_check=False)
    assert GitOpsRepo.from_settings(ws.settings).desired().deployments["prod/sum-pol2"].spec.module_ref.digest is None
    assert "sum-pol2" not in {x["name"] for x in host.modules() if x["namespace"] == "prod"}
    d = list_decisions(ws.settings.gitops_dir, subject="prod/sum-pol2", kind="approval")[0]
    assert (d.verdict, d.actor, d.action) == ("rejected", "timeout", "release rolled back")
