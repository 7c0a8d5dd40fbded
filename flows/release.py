"""The release flow: build → test → policy → sign → publish → commit → approval → reconcile → verify.

Run it with ``wasmops release MODULE_DIR [--target NS/NAME]`` or from the Prefect UI (deployment
``release``). Steps before commit are cached by content digest, so a re-run after a crash skips
them; commit is idempotent in Git, so a re-run never makes a second commit. Commit, approval,
reconcile and verify run in one Prefect transaction: a rejection or a failure rolls back the Git
commit and the host. A failed verify also quarantines the digest (a rollback that sticks).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.transactions import transaction

from flows._approval import request_approval
from flows._canary import run_canary, start_progress, uses_canary
from flows._labels import label_run
from tasks.finops import budget_gate
from tasks.release import ai_verify, already_serving, baseline_sample, commit_release, reconcile_namespace, sticky_rollback, verify_release
from tasks.supply import build_module, policy_check, publish_module, sign_module, test_module
from wasmops.errors import AnomalyRolledBack, ApprovalRejected, BudgetBlocked, VerifyFailed

__all__ = ["release", "AnomalyRolledBack", "ApprovalRejected", "BudgetBlocked", "VerifyFailed"]


@flow(name="release", log_prints=True, persist_result=True)
def release(module_dir: str, target: str | None = None, auto_approve: bool = False,
            approval_timeout_s: int = 3600, source_revision: str = "", ai_check: bool = True,
            ai_requests: int = 60, releaser: str = "") -> dict:
    """Release the module in ``module_dir`` to ``target`` (``ns/name``, default ``dev/<name>``).

    ``releaser`` is who started it (default: the OS user); an ApprovalPolicy may refuse their own approval."""
    from wasmops.config import Settings
    from wasmops.desired import artifact_ref
    from wasmops.errors import QuarantinedError, UserError
    from wasmops.gitops import GitOpsRepo
    from wasmops.workspace import policy_path

    log = get_run_logger()
    s = Settings()
    releaser = releaser or _os_user()
    built = build_module(module_dir)
    key = target or f"dev/{built.name}"
    desired = GitOpsRepo.from_settings(s).desired()
    manifest = desired.deployments.get(key)
    if manifest is None:
        raise UserError(f"no WasmModuleDeployment {key} in the GitOps repo", where=str(s.gitops_dir))
    if auto_approve and manifest.spec.environment != "dev":
        raise UserError(f"--auto-approve is for dev only; {key} is {manifest.spec.environment}", where=key)
    if built.digest in desired.quarantine:
        raise QuarantinedError(f"wasm digest {built.digest} is quarantined", where=key)
    label_run(manifest, name=f"release {key} wasm {built.digest[:19]}")

    test_module(module_dir, built)
    rc = manifest.spec.runtime_config
    policy_check(built, rc.trust_level, policy_file=str(policy_path(s)), memory_limit=manifest.memory_bytes,
                 timeout_ms=rc.timeout_ms, fuel=manifest.fuel_per_request)
    sig = sign_module(built)
    tag = built.digest.split(":")[1][:12]
    ref = artifact_ref(manifest.spec.module_ref.repository, tag, s.registry_base)
    pub = publish_module(built, ref, sig["bundle_path"], source=manifest.spec.source or "", revision=source_revision)
    if pub["manifest_digest"] in desired.quarantine:
        raise QuarantinedError(f"artifact {pub['manifest_digest']} is quarantined", where=key)
    serving = already_serving(key, pub["manifest_digest"])
    if serving:
        log.info(f"{key} already serves manifest {pub['manifest_digest']} (commit {serving[:10]}): nothing to do")
        return {"key": key, "tag": tag, "wasm_digest": built.digest, "manifest_digest": pub["manifest_digest"],
                "bundle_digest": sig["bundle_digest"], "commit": serving, "commit_changed": False, "noop": True,
                "approval": None, "budget": None, "ai_verdict": None, "verify": None}

    provenance = {"Source-Revision": source_revision or built.source_digest, "Wasm-Digest": built.digest,
                  "Bundle-Digest": sig["bundle_digest"], "Flow-Run": str(flow_run.get_id() or ""),
                  "Releaser": releaser}
    namespace = key.split("/", 1)[0]
    gate = budget_gate(key, pub["manifest_digest"])
    if gate["outcome"] == "blocked":
        raise BudgetBlocked(f"release blocked by a strict budget: {gate['message']}", where=key)
    verdict = None
    # a canary is judged step by step against stable, so only a plain switch needs the before-sample
    baseline = baseline_sample(module_dir, key, ai_requests) if ai_check and not uses_canary(manifest) else None
    try:
        with transaction():
            commit = commit_release(key, tag, pub["manifest_digest"], provenance, start_progress(manifest))
            approval = request_approval(key, manifest, built, pub,
                                        # an over-budget release always waits for a person
                                        auto_approve=auto_approve and gate["outcome"] != "needs_approval",
                                        timeout_s=approval_timeout_s, force=gate["outcome"] == "needs_approval",
                                        extra=gate["markdown"] if gate["outcome"] == "needs_approval" else "",
                                        releaser=releaser, release_commit=commit["sha"])
            canary = run_canary(key, manifest, built, pub, module_dir, approval_timeout_s)   # None: plain switch
            if canary is None:
                reconcile_namespace(namespace, key)
            verified = verify_release(module_dir, key, pub["manifest_digest"])
        if ai_check and canary is None:   # a canary was judged step by step against stable
            verdict = ai_verify(module_dir, key, pub["manifest_digest"], ai_requests, baseline)
            if verdict["verdict"] == "anomalous":
                _rollback_on_anomaly(key, manifest, built, pub, verdict, approval_timeout_s)
    except VerifyFailed as exc:
        log.error(f"verify failed for {key}: {exc}; rolling back and quarantining {pub['manifest_digest']}")
        sticky_rollback(key, pub["manifest_digest"], reason=f"verify failed after release: {exc}",
                        wasm_digest=built.digest)
        raise
    except ApprovalRejected as exc:
        log.warning(f"release of {key} rejected: {exc}")
        raise
    log.info(f"released {key} {tag} ({pub['manifest_digest']}) commit {commit['sha'][:10]}", extra={"terminal": False})
    return {"key": key, "tag": tag, "wasm_digest": built.digest, "manifest_digest": pub["manifest_digest"],
            "bundle_digest": sig["bundle_digest"], "commit": commit["sha"], "commit_changed": commit["changed"],
            "approval": approval, "budget": gate["outcome"], "ai_verdict": verdict, "verify": verified,
            "canary": canary}


def _rollback_on_anomaly(key, manifest, built, pub, verdict, timeout_s) -> None:
    """The approval policy decides: dev rolls back at once, prod asks a person first."""
    reason = f"post-deploy AI verdict anomalous: {verdict['explanation']}"
    try:
        request_approval(key, manifest, built, pub, auto_approve=False, timeout_s=timeout_s,
                         extra=f"**Roll back?** {reason}")
    except ApprovalRejected:
        print(f"rollback of {key} declined by a person; {pub['manifest_digest']} stays")
        return
    sticky_rollback(key, pub["manifest_digest"], reason=reason, wasm_digest=built.digest)
    raise AnomalyRolledBack(f"rolled back and {pub['manifest_digest']} quarantined: {reason}", where=key)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): an unnamed releaser
        return "unknown"
