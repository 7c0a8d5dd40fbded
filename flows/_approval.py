"""The human approval pause used by the release (and rollback) flows.

Whether approval is required comes from policy (``WasmModuleDeployment.requires_approval``):
always for prod, never for dev unless a strict ``require-approval`` policy is bound. A timeout
rejects. Operators answer from the Prefect UI form or with ``wasmops approve/reject RUN_ID``.

When an ``ApprovalPolicy`` in Git covers the target (release approvals only: the call passes
``releaser``), the policy decides instead: N of M signed approvals per group, expiry, reasons, no
self-approval; see ``flows/_approval_policy.py``. Without one, one answer (signed or not) decides.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.runtime import flow_run

from flows._pause import pause_for_input
from wasmops.digests import short
from wasmops.errors import ApprovalRejected

__all__ = ["Approval", "ApprovalRejected", "request_approval"]


class Approval(RunInput):
    approve: bool = False
    reason: str = ""
    approver: str = ""


def describe(key: str, manifest, proposal, extra: str = "") -> str:
    """``proposal``: a ``wasmops.release.steps.Proposal`` (the artifact that would serve ``key``)."""
    rc = manifest.spec.runtime_config
    cur = manifest.spec.module_ref
    return (
        f"## Approve release of `{key}`?\n\n"
        f"| | current | proposed |\n|---|---|---|\n"
        f"| manifest | `{short(cur.digest or 'none')}` | `{short(proposal.manifest_digest)}` |\n"
        f"| wasm | | `{short(proposal.wasm_digest or None)}` |\n"
        f"| tag | `{cur.tag}` | `{proposal.tag}` |\n"
        f"| environment | {manifest.spec.environment} | {manifest.spec.environment} |\n"
        f"| replicas × memory | {manifest.spec.replicas} × {rc.resources.memory} | same |\n"
        f"| trust level | {rc.trust_level} | {rc.trust_level} |\n\n"
        f"**Risk**: {'production traffic' if manifest.spec.environment == 'prod' else 'dev only'}; "
        f"tests and policy passed; signature manifest `{short(proposal.bundle_manifest_digest or 'attached')}`.\n"
        f"{extra}\n\nSet **approve** and give a **reason**."
    )


def request_approval(key: str, manifest, proposal, *, auto_approve: bool, timeout_s: int,
                     extra: str = "", force: bool = False, releaser: str | None = None,
                     release_commit: str = "") -> dict:
    """Pause for a person when policy says so; returns the answer, or raises ApprovalRejected.

    ``releaser`` (who started the release) turns on ApprovalPolicies from Git for this target."""
    from wasmops.config import current
    from wasmops.gitops.decisions import Decision, record

    log = get_run_logger()
    s = current()
    if releaser is not None:
        from flows._approval_policy import policy_gate

        gate = policy_gate(manifest, key, proposal.manifest_digest, releaser, str(flow_run.get_id() or ""))
        if gate is not None:
            return _policy_approval(gate, key, manifest, proposal, timeout_s=timeout_s, extra=extra,
                                    release_commit=release_commit, auto_approve=auto_approve)
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
            answer = pause_for_input(
                Approval.with_initial_data(description=describe(key, manifest, proposal, extra), approve=False),
                timeout_s=timeout_s)
        except FlowPauseTimeout:
            answer = Approval(approve=False, reason=f"no answer within {timeout_s}s", approver="timeout")
    record(s.gitops_dir, Decision(
        kind="approval", subject=key, verdict="approved" if answer.approve else "rejected",
        actor=answer.approver or "unknown", policy_rule=rule, explanation=answer.reason,
        digest=proposal.manifest_digest, flow_run_id=str(flow_run.get_id() or ""),
        action="release continues" if answer.approve else "release rolled back"))
    if not answer.approve:
        raise ApprovalRejected(f"{key} rejected by {answer.approver or 'unknown'}: {answer.reason or 'no reason'}")
    return {"required": True, "approved": True, "approver": answer.approver, "reason": answer.reason}


def _policy_approval(gate, key: str, manifest, proposal, *, timeout_s: int, extra: str, release_commit: str,
                     auto_approve: bool) -> dict:
    """Wait until the covering ApprovalPolicies are met (signed approvals), then record them."""
    from flows._approval_policy import policy_note, wait_for_policy
    from wasmops.approvals.record import record_gate
    from wasmops.config import current

    log = get_run_logger()
    rid = gate.expected.run_id
    if auto_approve:
        log.warning(f"--auto-approve does not count: ApprovalPolicy {gate.describe()} covers {key}")
    log.info(f"waiting for approval of {key} under {gate.describe()} (up to {timeout_s}s): "
             f"wasmops approve {rid} --key PATH --reason \"...\" (wasmops approvals shows what is still needed)")
    base = describe(key, manifest, proposal, extra)
    outcome, timed_out = wait_for_policy(
        gate, lambda g: Approval.with_initial_data(description=base + policy_note(g), approve=False), timeout_s)
    if timed_out:
        why = f"no decision within {timeout_s}s (still needed: {'; '.join(gate.needs()) or 'nothing'}); " \
              f"the policy says {outcome}"
    elif gate.rejection:
        why = f"rejected by {gate.rejection.approver}: {gate.rejection.reason or 'no reason'}"
    else:
        answers = gate.counted() or [gate.unsigned_approval]
        why = "; ".join(f"{a.approver}: {a.reason}" for a in answers if a)
    approved = outcome == "approved"
    d = record_gate(current().gitops_dir, gate, verdict=outcome, explanation=why, release_commit=release_commit,
                    action="release continues" if approved else "release rolled back")
    if not approved:
        raise ApprovalRejected(f"{key} {why}")
    log.info(f"{key} approved under {gate.describe()}: {why} (decision {d.id})")
    return {"required": True, "approved": True, "approver": d.actor, "reason": why,
            "policies": [p.name for p in gate.policies], "decision": d.id,
            "approvals": [{k: v for k, v in a.to_record().items() if k not in ("statement", "bundle")}
                          for a in gate.counted()]}
