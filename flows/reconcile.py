"""Reconcile Git → host on an interval and after each release commit (``wasmops.release.committed``).

The plan, the conditions and any drift are Prefect artifacts; drift also emits ``wasmops.drift.detected``.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks._common import RETRY


@task(name="reconcile-all", cache_policy=NO_CACHE, **RETRY)
def reconcile_all(mode: str, namespaces: list[str] | None, dry_run: bool) -> dict:
    from prefect.events import emit_event

    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.host.client import HostClient
    from wasmops.gitops.reconcile import reconcile

    s = current()
    rep = reconcile(GitOpsRepo.from_settings(s).desired(), HostClient.from_workspace(s), registry=s.registry_base,
                    mode=mode, dry_run=dry_run, namespaces=set(namespaces) if namespaces else None,
                    check_binding=True)
    create_markdown_artifact(key="reconcile-plan", markdown=rep.to_markdown(), description=rep.summary())
    for d in rep.drift:
        emit_event("wasmops.drift.detected", resource={"prefect.resource.id": f"wasmops.module.{d.key}"},
                   payload={"key": d.key, "field": d.field, "message": d.message, "mode": mode})
    if rep.drift:
        create_markdown_artifact(key="drift", description=f"{len(rep.drift)} drifted module(s)",
                                 markdown="## Drift\n\n" + "\n".join(f"- `{d.key}`: {d.message}" for d in rep.drift))
    if not dry_run:
        from wasmops.gitops.quarantine_audit import record_lifts

        for d in record_lifts(s.gitops_dir):     # a quarantine lifted by hand takes effect in this pass
            print(f"recorded {d.id}: {d.subject} {d.explanation}")
    rep.raise_for_status() if not dry_run and mode == "heal" else None
    return {"summary": rep.summary(), "drift": [d.message for d in rep.drift], "ok": rep.ok}


def _reconcile_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters or {}
    scope = ",".join(p.get("namespaces") or []) or p.get("namespace") or "all namespaces"
    return f"reconcile {scope} ({'dry run' if p.get('dry_run') else p.get('mode', 'heal')})"


@flow(name="reconcile", log_prints=True, flow_run_name=_reconcile_run_name)
def reconcile_flow(mode: str = "heal", namespaces: list[str] | None = None, dry_run: bool = False,
                   namespace: str | None = None) -> dict:
    """``namespace`` (one) is what the release-commit trigger passes; ``namespaces`` limits to several."""
    if namespace:
        namespaces = [*(namespaces or []), namespace]
    out = reconcile_all(mode, namespaces, dry_run)
    print(out["summary"])
    return out
