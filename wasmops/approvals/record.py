"""Record a policy-governed approval: a decision record with the signed statements, committed with
one ``Wasmops-Approval`` trailer per counted approver.

The release commit is made before the approval (commit → approval → reconcile in one transaction),
so the approvals cannot be trailers of that commit; this follow-up decision commit carries them and
points back with ``Wasmops-Approves: <release commit>``.
"""

from __future__ import annotations

from pathlib import Path

from wasmops.gitops.decisions import Decision, record
from .gate import ApprovalGate

__all__ = ["approval_trailers", "record_gate"]


def approval_trailers(gate: ApprovalGate, release_commit: str = "") -> dict[str, list[str]]:
    """``{trailer: [values]}``: who approved (group, key id, signed time), the policies, the commit."""
    out: dict[str, list[str]] = {"Approval-Policy": [p.name for p in gate.policies]}
    approvals = gate.counted()
    if gate.unsigned_approval:
        approvals = [*approvals, gate.unsigned_approval]
    out["Approval"] = [f"{a.approver} groups={','.join(sorted(a.groups & gate.groups)) or '-'} "
                       f"key={a.key_id or 'unsigned'} at={a.at.isoformat(timespec='seconds')}"
                       for a in approvals]
    if gate.rejection:
        out["Rejection"] = [f"{gate.rejection.approver} key={gate.rejection.key_id or 'unsigned'}"]
    if release_commit:
        out["Approves"] = [release_commit]
    return out


def record_gate(repo_dir: str | Path, gate: ApprovalGate, *, verdict: str, explanation: str,
                action: str, release_commit: str = "") -> Decision:
    """Write the decision record (``data.approvals`` holds each statement and bundle) and commit it."""
    e = gate.expected
    answers = [*gate.counted(), *([gate.unsigned_approval] if gate.unsigned_approval else []),
               *([gate.rejection] if gate.rejection else [])]
    actor = ", ".join(a.approver for a in answers) or ("timeout" if verdict != "approved" else "policy")
    d = Decision(kind="approval", subject=e.target, verdict=verdict, actor=actor,
                 policy_rule=f"ApprovalPolicy {gate.describe()}", explanation=explanation, action=action,
                 digest=e.manifest_digest, flow_run_id=e.run_id,
                 inputs={"releaser": e.releaser, "release_commit": release_commit,
                         "policies": [p.model_dump(mode="json", by_alias=True) for p in gate.policies]},
                 data={"approvals": [a.to_record() for a in answers], "refused": list(gate.refused)},
                 output={"outcome": verdict})
    root = Path(repo_dir)
    path = record(root, d, commit=False)
    if (root / ".git").exists():
        _commit(root, path, d, approval_trailers(gate, release_commit))
    return d


def _commit(root: Path, path: Path, d: Decision, trailers: dict[str, list[str]]) -> None:
    from wasmops.gitops.repo import GitOpsRepo

    lines = [f"Wasmops-{k}: {v}" for k, vs in trailers.items() for v in vs]
    msg = (f"decision approval {d.subject}: {d.verdict}\n\n{d.explanation[:500]}\n\n"
           f"Wasmops-Decision: {d.id}\nWasmops-Actor: {d.actor}\n" + "\n".join(lines) + "\n")
    repo = GitOpsRepo.open(root)
    with repo.locked():
        repo._commit([path], msg)
