"""Asking a person before a regression found by the AI check is rolled back in prod.

The question used to be the release's own form ("Approve release of X?", the release's table, rule
"prod requires approval"), so `approve` meant roll back, `reject` kept the regression, and no answer
within the hour kept it too. Here the form asks what it means: approve rolls back, reject keeps the
new version serving, and no answer within ``timeout_s`` rolls back (the judge found a regression and
nobody objected).
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.runtime import flow_run

from flows._approval import Approval
from flows._pause import pause_for_input
from wasmops.digests import short

RULE = "a regression found in prod: a person confirms the rollback; no answer rolls back"


def describe_rollback(key: str, manifest, proposal, reason: str, timeout_s: int) -> str:
    before = manifest.spec.module_ref
    return (f"## Roll back `{key}`?\n\nThe AI check found a regression in the version that serves now: "
            f"{reason}\n\n| | serving now (this release) | after the rollback |\n|---|---|---|\n"
            f"| manifest | `{short(proposal.manifest_digest)}` | `{short(before.digest or 'none')}` |\n"
            f"| tag | `{proposal.tag}` | `{before.tag}` |\n\n"
            f"**approve** = roll back: the previous version serves again and this release's digests are "
            f"quarantined. **reject** = keep this release serving. No answer within {timeout_s}s rolls back.")


def confirm_rollback(key: str, manifest, proposal, reason: str, timeout_s: int) -> bool:
    """True: roll back (dev always; prod when a person approves or nobody answers in time)."""
    from wasmops.config import current
    from wasmops.gitops.decisions import Decision, record

    if not manifest.requires_approval():
        return True
    rid = flow_run.get_id()
    get_run_logger().warning(f"{key}: regression found; roll back? (up to {timeout_s}s, then it rolls back): "
                             f"wasmops approve {rid} --reason \"...\" rolls back, wasmops reject {rid} --reason "
                             f"\"...\" keeps it")
    form = Approval.with_initial_data(description=describe_rollback(key, manifest, proposal, reason, timeout_s),
                                      approve=False)
    try:
        answer = pause_for_input(form, timeout_s=timeout_s)
    except FlowPauseTimeout:
        answer = Approval(approve=True, reason=f"no answer within {timeout_s}s: rolled back", approver="timeout")
    record(current().gitops_dir, Decision(
        kind="approval", subject=key, verdict="approved" if answer.approve else "rejected",
        actor=answer.approver or "unknown", policy_rule=RULE, explanation=answer.reason,
        digest=proposal.manifest_digest, flow_run_id=str(rid or ""),
        action="rolled back" if answer.approve else "kept serving: the rollback was declined"))
    return bool(answer.approve)
