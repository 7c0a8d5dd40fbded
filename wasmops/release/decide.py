"""The release's decisions as plain functions (no Prefect): which manifest, what is refused, the
tag and reference, the provenance trailers, the budget gate's consequences, what the flow returns.

``flows/release.py`` calls these between its tasks; they take and return the records of
``wasmops.release.steps``.

    >>> from wasmops.release.steps import GateVerdict
    >>> approval_terms(GateVerdict("needs_approval", "over", "| table |"), auto_approve=True)
    {'auto_approve': False, 'force': True, 'extra': '| table |'}
    >>> target_key(None, "greet")
    'dev/greet'
"""

from __future__ import annotations

from wasmops.gitops.desired import DesiredState, artifact_ref
from wasmops.errors import BudgetBlocked, QuarantinedError, UserError
from wasmops.release.steps import AiVerdict, Built, Committed, GateVerdict, Published, Signed, Verified


def target_key(target: str | None, name: str) -> str:
    """``ns/name`` to release to: the given target, else ``dev/<module name>``."""
    return target or f"dev/{name}"


def target_manifest(desired: DesiredState, key: str, *, auto_approve: bool, where: str):
    """The WasmModuleDeployment ``key`` in Git; UserError when it is missing, or when
    ``--auto-approve`` is asked for outside dev."""
    manifest = desired.deployments.get(key)
    if manifest is None:
        raise UserError(f"no WasmModuleDeployment {key} in the GitOps repo", where=where)
    if auto_approve and manifest.spec.environment != "dev":
        raise UserError(f"--auto-approve is for dev only; {key} is {manifest.spec.environment}", where=key)
    return manifest


_UNQUARANTINE = ("change the module (a new build has a new digest), or, if this digest is safe after all, "
                 "`wasmops quarantine remove DIGEST --reason WHY` (`wasmops quarantine list` shows why it is there)")


def refuse_quarantined_wasm(desired: DesiredState, built: Built, key: str) -> None:
    """A quarantined wasm digest is never released again, whatever artifact carries it."""
    if built.wasm_digest in desired.quarantine:
        raise QuarantinedError(f"wasm digest {built.wasm_digest} is quarantined", where=key, hint=_UNQUARANTINE)


def refuse_quarantined_manifest(desired: DesiredState, pub: Published, key: str) -> None:
    if pub.manifest_digest in desired.quarantine:
        raise QuarantinedError(f"artifact {pub.manifest_digest} is quarantined", where=key, hint=_UNQUARANTINE)


def release_ref(manifest, built: Built, registry: str) -> str:
    """Where the module is published: the manifest's repository, tagged with ``built.tag``."""
    return artifact_ref(manifest.spec.module_ref.repository, built.tag, registry)


def policy_inputs(manifest) -> dict:
    """The limits the policy check judges the module at: the deployment's, as the host admits it."""
    rc = manifest.spec.runtime_config
    return {"trust_level": rc.trust_level, "memory_limit": manifest.memory_bytes, "timeout_ms": rc.timeout_ms,
            "fuel": manifest.fuel_per_request, "max_stdout": manifest.host_limits()["max_stdout"]}


def provenance(built: Built, signed: Signed, *, source_revision: str, flow_run_id: str, releaser: str) -> dict:
    """The release commit's trailers (``Wasmops-<name>: value``)."""
    return {"Source-Revision": source_revision or built.source_digest, "Wasm-Digest": built.wasm_digest,
            "Bundle-Digest": signed.bundle_digest, "Flow-Run": flow_run_id, "Releaser": releaser}


def check_gate(gate: GateVerdict, key: str) -> GateVerdict:
    """A strict budget blocks the release (BudgetBlocked); otherwise the verdict goes on."""
    if gate.blocked:
        raise BudgetBlocked(f"release blocked by a strict budget: {gate.message}", where=key)
    return gate


def approval_terms(gate: GateVerdict, *, auto_approve: bool) -> dict:
    """How to ask for approval: an over-budget release always waits for a person, with the cost table."""
    return {"auto_approve": auto_approve and not gate.needs_approval, "force": gate.needs_approval,
            "extra": gate.markdown if gate.needs_approval else ""}


def may_wait_for_a_person(manifest, terms: dict) -> bool:
    """Whether the approval step can pause for a person (prod, a strict policy, an over-budget release,
    or ApprovalPolicies in Git), so the release commit must hold the module until it is approved."""
    if terms["force"]:
        return True
    if terms["auto_approve"]:
        return False
    return manifest.requires_approval() or manifest.spec.environment == "prod" or bool(manifest.spec.policies)


def repairs_git_only(baseline, manifest_digest: str) -> bool:
    """The host already served ``manifest_digest`` before the release (Git had been edited to another
    digest by hand, say): judging it would compare the digest with itself and always pass."""
    return baseline is not None and baseline.manifest_digest == manifest_digest


def judge_after_switch(ai_check: bool, canary: dict | None) -> bool:
    """The release judge runs after a plain switch; a canary was judged step by step against stable."""
    return ai_check and canary is None


def anomaly_reason(verdict: AiVerdict) -> str:
    return f"post-deploy AI check: release judge {verdict.judge or verdict.verdict}: {verdict.explanation}"


def rollback_hint(key: str) -> str:
    """What a person does after a release was rolled back: fix it, or, when the judge was wrong, lift
    the quarantine (its reason is recorded) and release again. A release verdict is not labelled:
    `decisions label` is for model verdicts (``gitops.decisions.LABELLED_KINDS``) and refuses it."""
    return ("fix the regression and release again; if the verdict was wrong (`wasmops decisions --module "
            f"{key} --kind release-verdict` shows it, `wasmops decisions show ID` its per-metric table): "
            "`wasmops quarantine remove DIGEST --reason WHY` for each digest above (the reason is recorded), "
            "then release again")


def noop_summary(key: str, built: Built, signed: Signed, pub: Published, commit: str) -> dict:
    """What the flow returns when the target already serves this artifact: nothing was done."""
    return {"key": key, "tag": built.tag, "wasm_digest": built.wasm_digest, "manifest_digest": pub.manifest_digest,
            "bundle_digest": signed.bundle_digest, "commit": commit, "commit_changed": False, "noop": True,
            "approval": None, "budget": None, "ai_verdict": None, "verify": None}


def release_summary(key: str, built: Built, signed: Signed, pub: Published, commit: Committed, *,
                    approval: dict | None, gate: GateVerdict, verdict: AiVerdict | None, verified: Verified,
                    canary: dict | None) -> dict:
    """What the flow returns after a release (plain data: the CLI and the Prefect UI read it)."""
    return {"key": key, "tag": built.tag, "wasm_digest": built.wasm_digest, "manifest_digest": pub.manifest_digest,
            "bundle_digest": signed.bundle_digest, "commit": commit.sha, "commit_changed": commit.changed,
            "approval": approval, "budget": gate.outcome, "ai_verdict": verdict.to_dict() if verdict else None,
            "verify": verified.to_dict(), "canary": canary}
