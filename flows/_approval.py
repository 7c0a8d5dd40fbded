"""The human approval pause used by the release (and rollback) flows.

Whether approval is required comes from policy (``WasmModuleDeployment.requires_approval``):
always for prod, never for dev unless a strict ``require-approval`` policy is bound. A timeout
rejects. Operators answer from the Prefect UI form or with ``wasmops approve/reject RUN_ID``.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run

from wasmops.errors import ApprovalRejected

__all__ = ["Approval", "ApprovalRejected", "request_approval"]


class Approval(RunInput):
    approve: bool = False
    reason: str = ""
    approver: str = ""


def describe(key: str, manifest, built, pub, extra: str = "") -> str:
    rc = manifest.spec.runtime_config
    cur = manifest.spec.module_ref
    return (
        f"## Approve release of `{key}`?\n\n"
        f"| | current | proposed |\n|---|---|---|\n"
        f"| digest | `{(cur.digest or 'none')[:23]}` | `{pub['manifest_digest'][:23]}` |\n"
        f"| tag | `{cur.tag}` | `{pub['ref'].rsplit(':', 1)[-1]}` |\n"
        f"| environment | {manifest.spec.environment} | {manifest.spec.environment} |\n"
        f"| replicas × memory | {manifest.spec.replicas} × {rc.resources.memory} | same |\n"
        f"| trust level | {rc.trust_level} | {rc.trust_level} |\n\n"
        f"**Risk**: {'production traffic' if manifest.spec.environment == 'prod' else 'dev only'}; "
        f"tests and policy passed; signature `{pub.get('bundle_manifest_digest') or 'attached'}`.\n"
        f"{extra}\n\nSet **approve** and give a **reason**."
    )


def request_approval(key: str, manifest, built, pub, *, auto_approve: bool, timeout_s: int,
                     extra: str = "", force: bool = False) -> dict:
    """Pause for a person when policy says so; returns the answer, or raises ApprovalRejected."""
    from wasmops.config import Settings
    from wasmops.decisions import Decision, record

    log = get_run_logger()
    s = Settings()
    rule = ("prod requires approval" if manifest.spec.environment == "prod"
            else "strict require-approval policy" if manifest.requires_approval() else "")
    if force and not rule:
        rule = extra.splitlines()[0] if extra else "approval requested"
    if not (manifest.requires_approval() or force):
        return {"required": False}
    if auto_approve:
        answer = Approval(approve=True, reason="--auto-approve", approver="wasmops (auto)")
    else:
        rid = flow_run.get_id()
        log.info(f"waiting for approval of {key} (up to {timeout_s}s): wasmops approve {rid} --reason \"...\" "
                 f"or wasmops reject {rid} --reason \"...\" (wasmops approvals shows the form)")
        try:
            answer = pause_flow_run(
                wait_for_input=Approval.with_initial_data(description=describe(key, manifest, built, pub, extra),
                                                          approve=False),
                timeout=timeout_s, poll_interval=1)
        except FlowPauseTimeout:
            answer = Approval(approve=False, reason=f"no answer within {timeout_s}s", approver="timeout")
    record(s.gitops_dir, Decision(
        kind="approval", subject=key, verdict="approved" if answer.approve else "rejected",
        actor=answer.approver or "unknown", policy_rule=rule, explanation=answer.reason,
        digest=pub["manifest_digest"], flow_run_id=str(flow_run.get_id() or ""),
        action="release continues" if answer.approve else "release rolled back"))
    if not answer.approve:
        raise ApprovalRejected(f"{key} rejected by {answer.approver or 'unknown'}: {answer.reason or 'no reason'}")
    return {"required": True, "approved": True, "approver": answer.approver, "reason": answer.reason}
