"""Release tasks after publish: commit (Git), reconcile (host), verify, sticky rollback.

commit and reconcile register ``on_rollback`` hooks, so a failure later in the release
transaction reverts the Git commit and puts the previously live version back on the host.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.transactions import get_transaction

from wasmops.config import Settings
from wasmops.faults import maybe_crash

from ._common import RETRY


@task(name="commit", cache_policy=NO_CACHE, **RETRY)
def commit_release(key: str, tag: str, digest: str, provenance: dict, rollout: dict | None = None) -> dict:
    """``rollout``: the canary's ``spec.rollout.inProgress``, written in the same commit."""
    from wasmops.gitops import GitOpsRepo

    maybe_crash("commit")
    repo = GitOpsRepo.from_settings(Settings())
    extra = (lambda data: data["spec"].setdefault("rollout", {}).__setitem__("inProgress", rollout)) if rollout else None
    res = repo.set_module_ref(key, tag=tag, digest=digest, provenance=provenance, extra=extra)
    get_transaction().set("release", {"key": key, "digest": digest, "changed": res.changed})
    if res.changed:
        from prefect.events import emit_event

        emit_event("wasmops.release.committed", resource={"prefect.resource.id": f"wasmops.module.{key}"},
                   payload={"key": key, "namespace": key.split("/", 1)[0], "digest": digest, "commit": res.sha})
    return {"sha": res.sha, "changed": res.changed}


@commit_release.on_rollback
def _revert_commit(txn) -> None:
    from wasmops.gitops import GitOpsRepo

    rel = txn.get("release", None)
    if rel:
        GitOpsRepo.from_settings(Settings()).revert_release(
            rel["key"], rel["digest"], reason="release transaction rolled back", actor="wasmops")


def _reconcile(namespaces: set[str], mode: str = "heal"):
    from wasmops.gitops import GitOpsRepo
    from wasmops.host.client import HostClient
    from wasmops.reconcile import reconcile

    s = Settings()
    repo = GitOpsRepo.from_settings(s)
    return reconcile(repo.desired(), HostClient.from_workspace(s), registry=s.registry_base, mode=mode,
                     namespaces=namespaces, check_binding=True)


@task(name="reconcile", cache_policy=NO_CACHE, **RETRY)
def reconcile_namespace(namespace: str, key: str | None = None) -> dict:
    from wasmops.host.client import HostClient

    maybe_crash("reconcile")
    client = HostClient.from_workspace(Settings())
    before = {f"{m['namespace']}/{m['name']}": m for m in client.modules()}
    get_transaction().set("before", before.get(key) if key else None)
    get_transaction().set("reconciled", {"namespace": namespace, "key": key})
    report = _reconcile({namespace})
    create_markdown_artifact(key=f"reconcile-{namespace}", markdown=report.to_markdown(),
                             description=f"Reconcile plan and conditions for {namespace}")
    # A release needs its own module to converge; another module stalled in the namespace is reported, not ours.
    converged = report.ok if key is None else (report.error is None and report.next.get(key, "done") == "done")
    if not converged:
        from wasmops.errors import Stalled, Waiting

        mine = next((c for c in report.rows() if c.get("module") == key), {}) if key else {}
        msg = f"reconcile of {key or namespace} did not converge: {mine.get('message') or report.summary()}"
        if report.error is not None or mine.get("next") == "waiting":   # host not reachable or not healthy yet
            raise Waiting(msg, where=key, delay=4.0)                      # RETRY retries it (transient_only)
        raise Stalled(msg, where=key)
    return {"ok": report.ok, "summary": report.summary()}


@reconcile_namespace.on_rollback
def _undo_reconcile(txn) -> None:
    """Put the previously live version back (Git is reverted by the commit hook)."""
    from wasmops.host.client import HostClient

    info = txn.get("reconciled", None)
    if not info or not info.get("key"):
        return
    client = HostClient.from_workspace(Settings())
    ns, name = info["key"].split("/", 1)
    before = txn.get("before", None)
    if before:
        client.deploy(ns, name, **{k: before[k] for k in ("ref", "digest", "trust_level", "limits", "env", "labels",
                                                           "replicas") if k in before})
    else:
        try:
            client.delete(ns, name)
        except Exception:  # noqa: BLE001 - already gone
            pass


@task(name="already-serving", cache_policy=NO_CACHE, **RETRY)
def already_serving(key: str, digest: str) -> str | None:
    """The release commit of ``digest`` when Git already holds it for ``key`` and the host serves it
    (a re-release is then a no-op: no budget gate, approval, commit or verify); else None."""
    from wasmops.gitops import GitOpsRepo
    from wasmops.host.client import HostClient

    s = Settings()
    repo = GitOpsRepo.from_settings(s)
    m = repo.desired().deployments.get(key)
    if m is None or m.spec.module_ref.digest != digest:
        return None
    live = {f"{x['namespace']}/{x['name']}": x for x in HostClient.from_workspace(s).modules()}.get(key)
    if not live or live.get("digest") != digest or live.get("health", "Healthy") != "Healthy":
        return None
    return repo.last_commit_for(key, digest) or repo.head


@task(name="verify", cache_policy=NO_CACHE, **RETRY)
def verify_release(module_dir: str, key: str, digest: str) -> dict:
    """Run the module's test cases through the host, judged as ``wasmops test`` judges them.

    Failures raise ``VerifyFailed`` (the flow rolls back and quarantines); a release where no case
    could run raises ``NotVerified`` (rolled back, not quarantined) unless the manifest sets
    ``spec.verify.allowUnverified``. Cases that cannot run are counted and recorded, never dropped.
    """
    from wasmops.decisions import Decision, record
    from wasmops.errors import NotVerified, VerifyFailed
    from wasmops.gitops import GitOpsRepo
    from wasmops.host.client import HostClient
    from wasmops.source import load_module_source
    from wasmops.verify import verify_via_host

    maybe_crash("verify")
    s = Settings()
    m = GitOpsRepo.from_settings(s).desired().deployments[key]
    ns, name = key.split("/", 1)
    report = verify_via_host(HostClient.from_workspace(s), ns, name, load_module_source(module_dir),
                             env=m.spec.runtime_config.env, digest=digest)
    create_table_artifact(key=f"verify-{name}", table=report.rows() or [{"case": "-", "result": "no test cases"}],
                          description=f"Post-deploy verification of {key} at {digest}: {report.summary()}")
    allowed = m.spec.verify.allow_unverified
    verdict = "fail" if report.failed else "pass" if report.ran else "unverified-allowed" if allowed else "unverified"
    record(s.gitops_dir, Decision(
        kind="verify", subject=key, verdict=verdict, digest=digest, policy_rule="test cases through the host",
        explanation=f"{report.summary()}" + "".join(f"; {c.name}: {c.reason}" for c in report.cases if not c.passed),
        output=report.to_dict(), action="" if verdict.startswith(("pass", "unverified-allowed")) else "roll back"))
    if report.failed:
        names = ", ".join(f"{c.name} ({c.reason})" for c in report.failed)
        raise VerifyFailed(f"verify failed through the host: {names}", where=key)
    if not report.ran and not allowed:
        why = "; ".join(f"{c.name}: {c.reason}" for c in report.not_run) or "the module has no test cases"
        raise NotVerified(f"no test case could run through the host ({why})", where=key,
                          hint="add a case the host can run (the deployment's env, no args), "
                               "or set spec.verify.allowUnverified: true in the manifest")
    return {"passed": report.passed, "ran": len(report.ran), "not_run": len(report.not_run),
            "summary": report.summary()}


@task(name="rollback", cache_policy=NO_CACHE, **RETRY)
def sticky_rollback(key: str, digest: str, reason: str, actor: str = "wasmops", wasm_digest: str | None = None) -> dict:
    """Revert the release commit, quarantine the digest in Git, and reconcile."""
    from wasmops.rollback import rollback

    return rollback(Settings(), key, digest=digest, wasm_digest=wasm_digest, reason=reason, actor=actor)


def _judge_chart(name: str, key: str, baseline, canary, v) -> None:
    """The canary-vs-baseline picture as an image in the run's artifacts (the Prefect UI shows it)."""
    import base64

    from wasmops.release_check import chart_png

    b64 = base64.b64encode(chart_png(baseline, canary)).decode()
    create_markdown_artifact(key=f"release-judge-chart-{name}", description=f"Canary vs baseline for {key}",
                             markdown=f"## {key}: release judge {v.verdict}\n\n{v.explanation}\n\n"
                                      f"![canary vs baseline](data:image/png;base64,{b64})")


def _probe_bodies(module_dir: str) -> list[bytes]:
    from wasmops.source import load_module_source

    return [c.stdin.encode() for c in load_module_source(module_dir).tests
            if c.expect_exit == 0 and not c.args and not c.env] or [b"{}"]


@task(name="baseline-sample", cache_policy=NO_CACHE, **RETRY)
def baseline_sample(module_dir: str, key: str, requests: int = 60) -> dict | None:
    """Before the switch: the module's probe requests against the digest that serves now (None when
    nothing serves it yet). The release judge compares the new digest with these."""
    from wasmops.host.client import HostClient
    from wasmops.release_check import sample_requests

    hc = HostClient.from_workspace(Settings())
    live = {f"{m['namespace']}/{m['name']}": m for m in hc.modules()}.get(key)
    if not live or live.get("health", "Healthy") != "Healthy":
        return None
    ns, name = key.split("/", 1)
    samples = sample_requests(hc, ns, name, _probe_bodies(module_dir), requests, expect_digest=live["digest"])
    return {"digest": live["digest"], "samples": samples}


@task(name="ai-verify", cache_policy=NO_CACHE)
def ai_verify(module_dir: str, key: str, digest: str, requests: int = 60, baseline: dict | None = None) -> dict:
    """After verify: the same probe requests against the new digest, the host's telemetry validated
    (GX: a failed check means hold), then the release judge (new vs previous digest, per metric).
    Returns ``{"verdict": ok | anomalous | hold, "judge": pass | marginal | fail | hold, ...}``."""
    from prefect.runtime import flow_run

    from wasmops.decisions import Decision, record
    from wasmops.host.client import HostClient
    from wasmops.release_check import judge_samples, load_policy, sample_requests
    from wasmops.telemetry import Collector, Store, scrape_host

    from .telemetry import read_window, validate_telemetry

    maybe_crash("ai-verify")
    s = Settings()
    ns, name = key.split("/", 1)
    hc = HostClient.from_workspace(s)
    col = Collector(Store.open(s), source=hc.url)
    scrape_host(hc, col)
    canary = sample_requests(hc, ns, name, _probe_bodies(module_dir), requests, expect_digest=digest)
    scrape_host(hc, col)
    df = read_window.fn(minutes=5, modules=[name], digest=digest)
    outcome = validate_telemetry.fn(df[df["namespace"] == ns], freshness_minutes=30, key=f"ai-verify-{name}")
    v = judge_samples((baseline or {}).get("samples"), canary, load_policy(s.gitops_dir))
    if not outcome.success:
        failed = ", ".join(sorted({f"{t}({c or ''})" for t, c in outcome.failed_checks()}))
        v.verdict, v.explanation = "hold", f"hold: telemetry failed validation: {failed}"
    verdict = {"fail": "anomalous", "hold": "hold"}.get(v.verdict, "ok")
    rows = v.to_rows()
    create_table_artifact(key=f"release-judge-{name}", table=rows or [{"metric": "-", "classification": "NoData"}],
                          description=f"Release judge for {key}: {v.verdict} (score {v.score:.0f}): {v.explanation}")
    _judge_chart(name, key, (baseline or {}).get("samples"), canary, v)
    record(s.gitops_dir, Decision(
        kind="release-verdict", subject=key, verdict=v.verdict, digest=digest, explanation=v.explanation,
        policy_rule="policies/release-judge.yaml (Mann-Whitney U + effect floor)",
        model={"name": "release-judge", "version": v.judge_version},
        data={"baseline_digest": (baseline or {}).get("digest"), "requests": requests, "gx_result": outcome.result_id},
        output={"score": v.score, "metrics": rows}, flow_run_id=str(flow_run.get_id() or ""),
        action={"anomalous": "roll back per approval policy", "hold": "release kept; a person is alerted"}
        .get(verdict, "none")))
    return {"verdict": verdict, "judge": v.verdict, "score": v.score, "explanation": v.explanation,
            "subject": key, "metrics": rows}
