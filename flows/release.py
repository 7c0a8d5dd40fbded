"""The release flow: build → test → policy → sign → publish → commit → approval → reconcile → verify.

Run it with ``wasmops release MODULE_DIR [--target NS/NAME]`` or from the Prefect UI (deployment
``release``). Steps before commit are cached by content digest, so a re-run after a crash skips
them; commit is idempotent in Git, so a re-run never makes a second commit. Commit, approval,
reconcile and verify run in one Prefect transaction: a rejection or a failure rolls back the Git
commit and the host. A failed verify also quarantines the digest (a rollback that sticks).

Fleet mode (``WASMOPS_FLEET_AGENTS`` set): nothing is pushed to a host; the agents pull the commit,
the flow waits (``await_fleet``, ``WASMOPS_FLEET_TIMEOUT_S``) until the hosts whose selector matches the
manifest serve the new digest, and verifies on one of them; a timeout rolls the commit back. A canary
runs its steps on every matching host at once: each step's weight is pushed, the agents apply the
split, and the step is judged on one of those hosts (``tasks.canary``).

The body only wires tasks: each returns a record of ``wasmops.release.steps``, and the decisions
between them (which manifest, quarantine, tag, provenance, the budget gate) are the plain functions
of ``wasmops.release.decide``. ``module.yaml`` is read once, here, and the parsed source passed down.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.transactions import transaction

from flows._ai_check import ai_check as ai_check_flow
from flows._approval import request_approval
from flows._approval_policy import policy_covers
from flows._canary import run_canary, start_progress, uses_canary
from flows._concurrency import module_lock
from flows._interrupted import recorded_if_interrupted
from flows._rollback_approval import confirm_rollback
from flows._labels import label_run
from tasks.finops import budget_gate
from tasks.release import (already_serving, approve_commit, await_fleet, baseline_sample, commit_release, fleet_judge_host,
                           pull_gitops, reconcile_namespace, sticky_rollback, verify_release)
from tasks.supply import build_module, policy_check, publish_module, sign_module, test_module
from wasmops.release import decide, interrupted
from wasmops.digests import shown
from wasmops.errors import AnomalyRolledBack, ApprovalRejected, BudgetBlocked, CanaryAborted, VerifyFailed
from wasmops.release.steps import AiVerdict, Built, GateVerdict, Proposal, Published, Signed

__all__ = ["release", "AnomalyRolledBack", "ApprovalRejected", "BudgetBlocked", "VerifyFailed"]


@flow(name="release", log_prints=True, persist_result=True)
def release(module_dir: str, target: str | None = None, auto_approve: bool = False,
            approval_timeout_s: int = 3600, source_revision: str = "", ai_check: bool = True,
            ai_requests: int = 60, releaser: str = "") -> dict:
    """Release the module in ``module_dir`` to ``target`` (``ns/name``, default ``dev/<name>``).

    ``releaser`` is who started it (default: the OS user); an ApprovalPolicy may refuse their own approval."""
    from wasmops.supply.source import load_module_source

    src = load_module_source(module_dir)            # the one read of module.yaml in this release
    key = decide.target_key(target, src.name)
    namespace, _, name = key.partition("/")
    releaser = releaser or _os_user()
    # releases of one module never race on its manifest; a SIGINT/SIGTERM inside leaves a decision record
    with module_lock(namespace, name), recorded_if_interrupted(key, actor=releaser):
        return _release(src, key, auto_approve, approval_timeout_s, source_revision, ai_check, ai_requests,
                        releaser)


def _release(src, key: str, auto_approve: bool, approval_timeout_s: int, source_revision: str, ai_check: bool,
             ai_requests: int, releaser: str) -> dict:
    log = get_run_logger()
    built = build_module(src)
    desired, manifest = _target(key, built, auto_approve)
    label_run(manifest, name=f"release {key} {shown('wasm', built.wasm_digest)}")

    signed, pub = _supply_chain(src, built, manifest, source_revision)
    decide.refuse_quarantined_manifest(desired, pub, key)
    # fleet mode: no workspace host to ask; a re-release commits nothing new and await_fleet returns at once
    serving = None if _fleet_mode() else already_serving(key, pub.manifest_digest, ai_check)
    if serving and serving.finished:
        log.info(f"{key} already serves manifest {pub.manifest_digest} (commit {serving.commit[:10]}): nothing to do")
        return decide.noop_summary(key, built, signed, pub, serving.commit)
    if serving:
        return _finish(src, key, manifest, built, signed, pub, serving.commit, ai_check, ai_requests,
                       approval_timeout_s)

    provenance = decide.provenance(built, signed, source_revision=source_revision,
                                   flow_run_id=str(flow_run.get_id() or ""), releaser=releaser)
    gate = decide.check_gate(GateVerdict.of(budget_gate(key, pub.manifest_digest)), key)
    proposal = Proposal.release(built, pub)
    # a canary is judged step by step against stable, so only a plain switch needs the before-sample
    judge_at = _judge_host(key, manifest, ai_check)
    baseline = baseline_sample(src, key, ai_requests, host_url=judge_at) \
        if ai_check and not uses_canary(manifest) and (judge_at or not _fleet_mode()) else None
    if decide.repairs_git_only(baseline, pub.manifest_digest):
        log.info(f"the host served {pub.manifest_digest} before this release: the commit repairs Git to what "
                 "serves; nothing changes on the host, so there is nothing to judge (no release verdict)")
        ai_check, baseline = False, None
    verdict = None
    try:
        terms = decide.approval_terms(gate, auto_approve=auto_approve)
        waits = decide.may_wait_for_a_person(manifest, terms) or policy_covers(manifest)
        awaiting = (provenance["Flow-Run"] or "unknown") if waits else None
        with transaction():
            commit = commit_release(key, built.tag, pub.manifest_digest, provenance, start_progress(manifest),
                                    awaiting=awaiting)
            approval = request_approval(key, manifest, proposal, timeout_s=approval_timeout_s,
                                        releaser=provenance["Releaser"], release_commit=commit.sha, **terms)
            if awaiting or manifest.awaiting_approval:     # also a mark an earlier, crashed run left
                approve_commit(key, approval)
            canary = run_canary(key, manifest, proposal, src, approval_timeout_s)   # None: plain switch
            verified, served_at = _switch_and_verify(src, key, pub.manifest_digest, canary)
        if decide.judge_after_switch(ai_check, canary):
            verdict = ai_check_flow(src, key, pub.manifest_digest, ai_requests, baseline,
                                    release_run_id=provenance["Flow-Run"], host_url=judge_at or served_at)
            if verdict.anomalous:
                _rollback_on_anomaly(key, manifest, built, pub, verdict, approval_timeout_s)
    except VerifyFailed as exc:
        why = _failed_because(exc)
        log.error(f"{why}; rolling back {key} and quarantining {pub.manifest_digest}")
        sticky_rollback(key, pub.manifest_digest, reason=why, wasm_digest=built.wasm_digest)
        raise
    except ApprovalRejected as exc:
        log.warning(f"release of {key} rejected: {exc}")
        raise
    log.info(f"released {key} {built.tag} ({pub.manifest_digest}) commit {commit.sha[:10]}", extra={"terminal": False})
    return decide.release_summary(key, built, signed, pub, commit, approval=approval, gate=gate, verdict=verdict,
                                  verified=verified, canary=canary)


def _failed_because(exc: VerifyFailed) -> str:
    """The quarantine entry's reason: a canary the judge aborted says so (it was never "verify")."""
    return str(exc) if isinstance(exc, CanaryAborted) else f"verify failed after release: {exc}"


def _finish(src, key: str, manifest, built: Built, signed, pub, commit: str, ai_check: bool, ai_requests: int,
            timeout_s: int) -> dict:
    """Git and the host already hold this digest, but its release stopped before it was verified or
    judged (``wasmops.release.unfinished``): verify and judge it now, against what served before."""
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.release.steps import Baseline
    from wasmops.release.unfinished import previous_deploy

    get_run_logger().warning(f"{key} serves {pub.manifest_digest}, but the release that put it there stopped before "
                             f"it was verified and judged: finishing that release now")
    try:
        verified = verify_release(src, key, pub.manifest_digest)
    except VerifyFailed as exc:
        sticky_rollback(key, pub.manifest_digest, reason=_failed_because(exc), wasm_digest=built.wasm_digest)
        raise
    verdict = None
    if ai_check:
        s = current()
        before = previous_deploy(GitOpsRepo.from_settings(s), key, pub.manifest_digest, s.registry_base)
        baseline = Baseline(manifest_digest=before["digest"], samples={}, deploy=before) if before else None
        verdict = ai_check_flow(src, key, pub.manifest_digest, ai_requests, baseline,
                                release_run_id=str(flow_run.get_id() or ""), host_url=None)
        if verdict.anomalous:
            _rollback_on_anomaly(key, manifest, built, pub, verdict, timeout_s)
    return {**decide.noop_summary(key, built, signed, pub, commit), "noop": False, "finished_now": True,
            "verify": verified.to_dict(), "ai_verdict": verdict.to_dict() if verdict else None}


def _fleet_mode() -> bool:
    """``WASMOPS_FLEET_AGENTS`` is set: agents pull Git and reconcile their hosts; the flow only waits."""
    from wasmops.config import current

    return bool(current().fleet_agents)


def _judge_host(key: str, manifest, ai_check: bool) -> str | None:
    """Fleet mode: the host the release judge samples before and after a plain switch (one that serves
    ``key`` now). A canary needs none here: each step samples both digests on a host that serves the
    split (``tasks.canary``)."""
    if not _fleet_mode():
        return None
    _some_agent_serves(key, manifest)
    if uses_canary(manifest):
        return None
    return fleet_judge_host(key) if ai_check else None


def _some_agent_serves(key: str, manifest) -> None:
    """Refuse, before the commit, a release that no agent's selector matches (every agent answered)."""
    from wasmops.config import current
    from wasmops.fleet.precheck import refuse_unmatched
    from wasmops.fleet.status import fleet_status

    refuse_unmatched(fleet_status(current().fleet_agents), key, manifest.metadata.labels)


def _switch_and_verify(src, key: str, manifest_digest: str, canary):
    """Fleet mode (``WASMOPS_FLEET_AGENTS``): no central push; the agents pull the commit, the release waits
    until the matching hosts serve it and verifies on one of them. Else reconcile the workspace host
    (a plain switch; a canary already switched it) and verify there. Returns the verification and the
    fleet host verified on (None: the workspace host)."""
    if _fleet_mode():
        fleet = await_fleet(key, manifest_digest)
        return verify_release(src, key, manifest_digest, host_url=fleet.served[0]), fleet.served[0]
    if canary is None:
        reconcile_namespace(key.split("/", 1)[0], key)
    return verify_release(src, key, manifest_digest), None


def _target(key: str, built: Built, auto_approve: bool):
    """The desired state in Git and the target's manifest; refuses a quarantined wasm digest."""
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    pull_gitops()                                   # the remote's desired state, not a stale clone's
    desired = GitOpsRepo.from_settings(s).desired()
    manifest = decide.target_manifest(desired, key, auto_approve=auto_approve, where=str(s.gitops_dir))
    decide.refuse_quarantined_wasm(desired, built, key)
    interrupted.note(wasm_digest=built.wasm_digest, tag=built.tag,        # for the record of an interrupt
                     previous_digest=manifest.spec.module_ref.digest or "")
    return desired, manifest


def _supply_chain(src, built: Built, manifest, source_revision: str) -> tuple[Signed, Published]:
    """test → policy (the limits the host admits at) → sign → publish to the manifest's repository."""
    from wasmops.config import current
    from wasmops.workspace import policy_path

    s = current()
    ns, _, name = manifest.key.partition("/")
    test_module(src, built, limits=manifest.host_limits(),                       # as verify runs them
                where=str(s.gitops_dir / "modules" / ns / f"{name}.yaml"))
    policy_check(built, policy_file=str(policy_path(s)), **decide.policy_inputs(manifest))
    signed = sign_module(built)
    pub = publish_module(built, signed, decide.release_ref(manifest, built, s.registry_base),
                         source=manifest.spec.source or "", revision=source_revision)
    interrupted.note(manifest_digest=pub.manifest_digest)
    return signed, pub


def _rollback_on_anomaly(key: str, manifest, built: Built, pub: Published, verdict: AiVerdict, timeout_s: int) -> None:
    """The approval policy decides: dev rolls back at once, prod asks a person first."""
    reason = decide.anomaly_reason(verdict)
    if not confirm_rollback(key, manifest, Proposal.release(built, pub), reason, timeout_s):
        get_run_logger().warning(f"rollback of {key} declined by a person; {pub.manifest_digest} stays")
        return
    sticky_rollback(key, pub.manifest_digest, reason=reason, wasm_digest=built.wasm_digest)
    raise AnomalyRolledBack(
        f"rolled back: the previous version serves again, and the new manifest {pub.manifest_digest} and wasm "
        f"{built.wasm_digest} are quarantined: {reason}", where=key,
        hint=decide.rollback_hint(key))


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): an unnamed releaser
        return "unknown"
