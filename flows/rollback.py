"""Roll a module back (triggered by ``wasmops.anomaly.detected``), through the approval policy.

dev rolls back automatically; prod (or a strict require-approval policy) waits for a person.
The rollback sticks: revert in Git, quarantine the digest, reconcile.
"""

from __future__ import annotations

from prefect import flow

from flows._approval import ApprovalRejected, request_approval
from flows._labels import label_run
from tasks.release import sticky_rollback
from wasmops.digests import short, shown
from wasmops.release.steps import Proposal


@flow(name="rollback", log_prints=True, flow_run_name="rollback {key}")
def rollback(key: str, digest: str = "", reason: str = "anomaly detected", approval_timeout_s: int = 3600) -> dict:
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    m = GitOpsRepo.from_settings(s).desired().deployments[key]
    label_run(m)
    current = m.spec.module_ref.digest
    if digest and current != digest:
        print(f"{key} no longer runs {shown('manifest', digest)} in Git (now {short(current)}); nothing to roll back")
        return {"key": key, "skipped": True}
    try:
        request_approval(key, m, Proposal.rollback(m.spec.module_ref), auto_approve=False,
                         timeout_s=approval_timeout_s, extra=f"**Rollback requested**: {reason}")
    except ApprovalRejected as exc:
        print(f"rollback of {key} not approved: {exc}")
        return {"key": key, "rolled_back": False, "reason": str(exc)}
    out = sticky_rollback(key, current, reason=reason)
    print(f"rolled back {key}: quarantined {current}")
    return out
