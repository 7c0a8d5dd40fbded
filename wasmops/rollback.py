"""A rollback that sticks: revert the release in Git, quarantine the digest, reconcile.

Because the bad digest is in ``quarantine.yaml`` in Git, no later release or reconcile can
bring it back until a person removes it on purpose (``wasmops quarantine remove``).
"""

from __future__ import annotations

from .config import Settings
from .decisions import Decision, record
from .errors import NotFound


def rollback(s: Settings, key: str, *, digest: str | None = None, reason: str = "", actor: str = "wasmops",
             reconcile_after: bool = True) -> dict:
    from .gitops import GitOpsRepo

    repo = GitOpsRepo.from_settings(s)
    m = repo.desired().deployments.get(key)
    if m is None:
        raise NotFound(f"no WasmModuleDeployment {key}", where=str(repo.path))
    bad = digest or m.spec.module_ref.digest
    if not bad:
        raise NotFound(f"{key} has no released digest to roll back", where=str(repo.path))
    reverted = repo.revert_release(key, bad, reason=reason or "rollback", actor=actor)
    quarantined = repo.quarantine(bad, module=key, reason=reason or "rollback", actor=actor)
    out = {"key": key, "digest": bad, "reverted": reverted.changed, "quarantined": quarantined.changed,
           "commit": reverted.sha}
    if reconcile_after:
        from .host.client import HostClient
        from .reconcile import reconcile

        rep = reconcile(repo.desired(), HostClient.from_workspace(s), registry=s.registry_base, mode="heal",
                        namespaces={key.split("/", 1)[0]})
        out["reconcile"] = rep.summary()
        out["restored_digest"] = repo.desired().deployments[key].spec.module_ref.digest
    record(repo.path, Decision(kind="rollback", subject=key, verdict="rolled-back", actor=actor, digest=bad,
                               policy_rule="sticky rollback: revert + quarantine", action=
                               f"reverted to {out.get('restored_digest') or 'unreleased'}; quarantined {bad}",
                               explanation=reason))
    return out
