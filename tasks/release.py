"""Release tasks after publish: commit (Git), reconcile (host), verify, sticky rollback, and the
release judge's steps (baseline before the switch; sample and judge after it, run by ``flows/_ai_check``).

commit and reconcile register ``on_rollback`` hooks, so a failure later in the release
transaction reverts the Git commit and puts the previously live version back on the host.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import MarkdownArtifact, TableArtifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.transactions import get_transaction

from wasmops.config import Settings, current
from wasmops.fleet.status import FleetRollout
from wasmops.host.api import DeployRequest
from wasmops.digests import shown
from wasmops.release import interrupted
from wasmops.release.steps import AiVerdict, Baseline, Committed, FleetServing, Verified
from wasmops.release.verify import target_probes
from wasmops.supply.source import ModuleSource

from ._common import RETRY, attempt, retried_inside, warn
from ._fresh_baseline import fresh_baseline


@task(name="commit", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def commit_release(key: str, tag: str, manifest_digest: str, provenance: dict, rollout: dict | None = None,
                   awaiting: str | None = None) -> Committed:
    """``rollout``: the canary's ``spec.rollout.inProgress``, written in the same commit. ``awaiting``:
    the run waits for a person's approval (reconcilers hold the module until ``approve_commit``)."""
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(current())
    extra = (lambda data: data["spec"].setdefault("rollout", {}).__setitem__("inProgress", rollout)) if rollout else None
    res = repo.set_module_ref(key, tag=tag, digest=manifest_digest, provenance=provenance, extra=extra,
                              awaiting=awaiting)
    get_transaction().set("release", {"key": key, "digest": manifest_digest, "changed": res.changed,
                                      "canary": bool(rollout)})
    interrupted.note(commit=res.sha if res.changed else None)
    if res.changed:
        from prefect.events import emit_event

        emit_event("wasmops.release.committed", resource={"prefect.resource.id": f"wasmops.module.{key}"},
                   payload={"key": key, "namespace": key.split("/", 1)[0], "digest": manifest_digest,
                            "commit": res.sha})
    return Committed(sha=res.sha, changed=res.changed)


@task(name="approved", cache_policy=NO_CACHE)
@retried_inside
def approve_commit(key: str, approval: dict) -> None:
    """The person approved: the manifest's awaiting-approval mark goes, so reconcilers apply the release."""
    from wasmops.gitops.repo import GitOpsRepo

    who = approval.get("approver") or "wasmops"
    GitOpsRepo.from_settings(current()).clear_awaiting(
        key, reason=f"approved by {who}: {approval.get('reason') or 'no reason given'}", actor=who)


@commit_release.on_rollback
def _revert_commit(txn) -> None:
    from wasmops.gitops.repo import GitOpsRepo

    rel = txn.get("release", None)
    if rel:
        out = GitOpsRepo.from_settings(current()).revert_release(
            rel["key"], rel["digest"], reason="release transaction rolled back", actor="wasmops")
        if out.changed:
            interrupted.undone(f"Git: the release commit of {shown('manifest', rel['digest'])} reverted "
                               f"(commit {out.sha[:10]})")
    if rel and rel.get("canary"):
        _drop_canary(rel["key"])
        interrupted.undone("host: canary dropped, stable serves alone")


def _drop_canary(key: str) -> None:
    """A canary release rolled back (Ctrl-C mid-step, a step that raised): the host serves the unjudged
    canary at its weight until told, since no reconcile task of this run undoes a step's (found from
    outside: after Ctrl-C at step 0 Git was reverted and the host kept the canary at 20 %)."""
    from .canary import canary_abort

    canary_abort.fn(key)

def _reconcile(namespaces: set[str], mode: str = "heal"):
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.host.client import HostClient
    from wasmops.gitops.reconcile import reconcile

    s = current()
    repo = GitOpsRepo.from_settings(s)
    return reconcile(repo.desired(), HostClient.from_workspace(s), registry=s.registry_base, mode=mode,
                     namespaces=namespaces, check_binding=True)


@task(name="reconcile", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def reconcile_namespace(namespace: str, key: str | None = None) -> dict:
    from wasmops.host.client import HostClient

    if get_transaction().get("reconciled", None) is None:   # once: a retry must not take its own work for "before"
        client = HostClient.from_workspace(current())
        before = {f"{m['namespace']}/{m['name']}": m for m in client.modules()}
        get_transaction().set("before", before.get(key) if key else None)
        get_transaction().set("reconciled", {"namespace": namespace, "key": key})
    report = _reconcile({namespace})
    create_markdown_artifact(key=f"reconcile-{namespace}", markdown=report.to_markdown(),
                             description=f"Reconcile plan and conditions for {namespace}")
    # A release needs its own module to converge; another module stalled in the namespace is reported, not ours.
    # Waiting (host unreachable, not healthy yet) is retried after its delay (retried_inside); Stalled is not.
    report.raise_for_status(key)
    return {"ok": report.ok, "summary": report.summary()}


@reconcile_namespace.on_rollback
def _undo_reconcile(txn) -> None:
    """Put the previously live version back (Git is reverted by the commit hook)."""
    from wasmops.host.client import HostClient

    info = txn.get("reconciled", None)
    if not info or not info.get("key"):
        return
    client = HostClient.from_workspace(current())
    ns, name = info["key"].split("/", 1)
    before = txn.get("before", None)
    if before:
        client.deploy(ns, name, **_deploy_body(before))
        interrupted.undone(f"host: {shown('manifest', before.get('digest'))} serves again")
    else:
        try:
            client.delete(ns, name)
            interrupted.undone("host: the module removed (it had no earlier release)")
        except Exception:  # noqa: BLE001 - already gone
            pass


_deploy_body = DeployRequest.again      # what admits the host's live view of a module again (its own request model)


@task(name="already-serving", cache_policy=NO_CACHE, **RETRY)
def already_serving(key: str, manifest_digest: str, judged: bool = True) -> FleetServing | None:
    """Git already holds ``manifest_digest`` for ``key`` and the host serves it healthy (a re-release is
    then a no-op, unless that release stopped before verify or its verdict: ``finished`` False,
    ``wasmops.release.unfinished``); else None."""
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.host.client import HostClient
    from wasmops.release.unfinished import finished

    s = current()
    repo = GitOpsRepo.from_settings(s)
    m = repo.desired().deployments.get(key)
    if m is None or m.spec.module_ref.digest != manifest_digest:
        return None
    live = {f"{x['namespace']}/{x['name']}": x for x in HostClient.from_workspace(s).modules()}.get(key)
    if not live or live.get("digest") != manifest_digest or live.get("health", "Healthy") != "Healthy":
        return None
    return FleetServing(key=key, manifest_digest=manifest_digest,
                        commit=repo.last_commit_for(key, manifest_digest) or repo.head,
                        finished=finished(s.gitops_dir, key, manifest_digest, judged=judged))


@task(name="await-fleet", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def await_fleet(key: str, manifest_digest: str, canary: tuple[str, int] | None = None) -> FleetRollout:
    """Fleet mode (``WASMOPS_FLEET_AGENTS``): the agents pull the release commit themselves; wait until the
    hosts whose selector matches the manifest serve ``manifest_digest`` (all, or the manifest's
    ``wasmops.dev/fleet-min-hosts``). The agents' ``wasmops.agent.reconciled`` events wake the wait
    (``tasks/fleet_events.py``: the fleet is looked at as soon as a matching agent reports), with a slow
    /status poll as the fallback. Each attempt waits a share of ``fleet_timeout_s`` and raises
    ``Waiting`` (tried again in this task run: ``retried_inside``); the last one fails naming the
    lagging hosts. ``canary``: a canary step, (canary digest, weight) that the hosts must serve beside
    ``manifest_digest`` (the stable one)."""
    from tasks.fleet_events import FALLBACK_POLL_S, PLAIN_POLL_S, AgentEvents
    from wasmops.errors import Stalled, Waiting
    from wasmops.fleet.status import await_serving, min_hosts_of
    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    desired = GitOpsRepo.from_settings(s).desired()
    m = desired.deployments[key]
    this, attempts = attempt()                    # (1, 1) when called as .fn(): one attempt, the whole timeout
    min_hosts = min_hosts_of(m, where=str(s.gitops_dir / desired.files.get(key, key)))
    share = s.fleet_timeout_s / attempts
    with AgentEvents(m.metadata.labels, key) as wake:        # subscribed before the first look
        r = await_serving(s.fleet_agents, key, manifest_digest, labels=m.metadata.labels, min_hosts=min_hosts,
                          timeout_s=share, poll_s=FALLBACK_POLL_S, wake=wake, canary=canary)
        events = f"subscribed, {wake.received} from this module's agents" if wake.subscribed else \
            f"not subscribed ({wake.error or 'no answer yet'}), polling every {PLAIN_POLL_S:g}s"
    create_markdown_artifact(key=f"fleet-{key.replace('/', '-')}", description=f"The fleet serving {key}",
                             markdown="\n".join(f"- {p}" for p in [*r.summary().split("; "), f"agents' events: {events}"]))
    if r.done:
        return r
    if this < attempts:
        raise Waiting(f"the fleet does not serve {manifest_digest} yet: {r.summary()}", where=key,
                      delay=min(4.0, share))
    lag = ", ".join([x.host for x in r.lagging] + [f"agent {u} (unreachable)" for u, _ in r.unreachable]) or "none"
    raise Stalled(f"the fleet did not serve {manifest_digest} within {s.fleet_timeout_s:g}s; lagging: {lag}. "
                  f"The last of {attempts} waits of {share:.1f}s each: {r.summary()}", where=key)


@task(name="verify", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def verify_release(src: ModuleSource, key: str, manifest_digest: str, host_url: str | None = None) -> Verified:
    """Run the module's test cases through the host, judged as ``wasmops test`` judges them.

    ``host_url``: a fleet host that serves the release (fleet mode); default the workspace host.

    Failures raise ``VerifyFailed`` (the flow rolls back and quarantines); a release where no case
    could run raises ``NotVerified`` (rolled back, not quarantined) unless the manifest sets
    ``spec.verify.allowUnverified``. Cases that cannot run are counted and recorded, never dropped.
    """
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.release.verify import verify_via_host

    s = current()
    m = GitOpsRepo.from_settings(s).desired().deployments[key]
    ns, name = key.split("/", 1)
    client = _host(s, host_url)
    report = verify_via_host(client, ns, name, src, env=m.spec.runtime_config.env,
                             args=m.spec.runtime_config.args,
                             scratch=m.spec.runtime_config.scratch, digest=manifest_digest)
    create_table_artifact(key=f"verify-{name}", table=report.rows() or [{"case": "-", "result": "no test cases"}],
                          description=f"Post-deploy verification of {key} at {manifest_digest}: {report.summary()}")
    _record_verify(s, key, manifest_digest, report, allowed=m.spec.verify.allow_unverified)
    return Verified(passed=report.passed, ran=len(report.ran), not_run=len(report.not_run), summary=report.summary())


def _record_verify(s: Settings, key: str, manifest_digest: str, report, *, allowed: bool) -> None:
    """The decision record, then ``VerifyFailed`` / ``NotVerified`` when the verdict says so."""
    from wasmops.gitops.decisions import Decision, record
    from wasmops.errors import NotVerified, VerifyFailed

    verdict = "fail" if report.failed else "pass" if report.ran else "unverified-allowed" if allowed else "unverified"
    record(s.gitops_dir, Decision(
        kind="verify", subject=key, verdict=verdict, digest=manifest_digest, policy_rule="test cases through the host",
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


@task(name="rollback", cache_policy=NO_CACHE, **RETRY)
def sticky_rollback(key: str, manifest_digest: str, reason: str, actor: str = "wasmops",
                    wasm_digest: str | None = None) -> dict:
    """Revert the release commit, quarantine the digest in Git, and reconcile the workspace host; in
    fleet mode (``WASMOPS_FLEET_AGENTS``) no central reconcile: the agents pull the revert and the
    quarantine themselves."""
    from wasmops.release.rollback import rollback

    s = current()
    out = rollback(s, key, digest=manifest_digest, wasm_digest=wasm_digest, reason=reason, actor=actor,
                   reconcile_after=not s.fleet_agents)
    if out.get("pinned_warning"):
        warn(out["pinned_warning"])
    return out


def _host(s: Settings, host_url: str | None):
    """The workspace host, or a fleet host at ``host_url`` with the workspace's host token; its runs are
    release probes (verify, judge, canary steps: counted apart, not billed to the module's team)."""
    from wasmops.host.client import HostClient, endpoint
    return HostClient(host_url, endpoint(s)[1], probe=True) if host_url else HostClient.from_workspace(s, probe=True)


@task(name="git-pull", cache_policy=NO_CACHE, **RETRY)
def pull_gitops() -> str:
    """Catch the workspace's GitOps clone up with its remote before the release reads desired state (a
    worker's clone may predate a module onboarded elsewhere); a remote that does not answer is retried.
    The head it reached."""
    from wasmops.gitops.repo import GitOpsRepo

    return GitOpsRepo.from_settings(current()).refresh().head


@task(name="judge-host", cache_policy=NO_CACHE, **RETRY)
def fleet_judge_host(key: str) -> str | None:
    """Fleet mode: the matching host the release judge samples before and after the switch (one that
    serves ``key`` now; ``wasmops.fleet.status.judge_host``), or None when none does."""
    from wasmops.fleet.status import fleet_status, judge_host
    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    m = GitOpsRepo.from_settings(s).desired().deployments[key]
    found = judge_host(fleet_status(s.fleet_agents), key, m.metadata.labels)
    return found[0] if found else None


def probes(src: ModuleSource, key: str) -> list[bytes]:
    return target_probes(current(), src, key)


@task(name="baseline-sample", cache_policy=NO_CACHE, **RETRY)
def baseline_sample(src: ModuleSource, key: str, requests: int = 60, host_url: str | None = None) -> Baseline | None:
    """Before the switch: the module's probe requests against the digest that serves now (None when
    nothing serves it yet). The release judge compares the new digest with these. ``host_url``: a fleet
    host (fleet mode); default the workspace host."""
    from wasmops.ai.release_check import sample_requests

    hc = _host(current(), host_url)
    live = {f"{m['namespace']}/{m['name']}": m for m in hc.modules()}.get(key)
    if not live or live.get("health", "Healthy") != "Healthy":
        return None
    ns, name = key.split("/", 1)
    samples = sample_requests(hc, ns, name, probes(src, key), requests, expect_digest=live["digest"])
    return Baseline(manifest_digest=live["digest"], samples=samples,
                    deploy=_deploy_body(live) if live.get("ref") else None)


@task(name="ai-sample", cache_policy=NO_CACHE)
def ai_sample(src: ModuleSource, key: str, manifest_digest: str, requests: int = 60,
              host_url: str | None = None, baseline: Baseline | None = None) -> tuple[dict, Baseline | None, object]:
    """After verify: the same probe requests against the new digest, the host's telemetry scraped
    before and after. ``host_url`` as for the baseline. On the workspace host the previous digest is
    admitted again beside the new one at weight 0 for this window, both sampled interleaved
    (``fresh_baseline``). Returns the new digest's samples, the baseline to judge them against (the
    fresh one, else ``baseline``) and the window's probe telemetry rows (``wasmops_probe_*``, unstored)."""
    from wasmops.ai.release_check import sample_requests
    from wasmops.telemetry import Collector, Store
    from wasmops.telemetry.schema import to_frame

    s = current()
    ns, name = key.split("/", 1)
    hc = _host(s, host_url)
    if host_url is not None and not hc.wait_serving(ns, name, manifest_digest, s.fleet_timeout_s):  # min-hosts met
        warn(f"{host_url}, the judge's host, does not serve {manifest_digest} yet: judged as it answers")  # elsewhere
    cols = (Collector(Store.open(s), source=hc.url), Collector(None, source=hc.url, probes=True))
    _scrape_into(hc, cols)
    fresh = fresh_baseline(hc, src, key, manifest_digest, requests, baseline) if host_url is None else None
    samples = fresh[1] if fresh else sample_requests(hc, ns, name, probes(src, key), requests, expect_digest=manifest_digest)
    return samples, (fresh[0] if fresh else baseline), to_frame(_scrape_into(hc, cols))


def _scrape_into(hc, cols) -> list[dict]:
    """One scrape of ``hc`` into each collector (the team's store, the probes' window); the last one's rows."""
    text, modules = hc.metrics(), hc.modules()
    return [c.collect(text, modules=modules) for c in cols][-1]


@task(name="ai-judge", cache_policy=NO_CACHE)
def ai_judge(key: str, manifest_digest: str, baseline: Baseline | None, samples: dict, outcome, *,
             requests: int, release_run_id: str = "") -> AiVerdict:
    """The release judge (new vs previous digest, per metric); telemetry that failed validation (GX)
    makes it a hold. Table and chart artifacts and a ``release-verdict`` decision record."""
    from wasmops.gitops.decisions import Decision, record
    from wasmops.ai.release_check import judge_samples, load_policy

    s = current()
    name = key.split("/", 1)[1]
    before = baseline.samples if baseline else None
    v = judge_samples(before, samples, load_policy(s.gitops_dir), looks=baseline.looks if baseline else 1)
    if not outcome.success:
        failed = ", ".join(sorted({f"{t}({c or ''})" for t, c in outcome.failed_checks()}))
        v.verdict, v.explanation = "hold", f"telemetry failed validation: {failed}"
    verdict, rows, n_side = {"fail": "anomalous", "hold": "hold"}.get(v.verdict, "ok"), v.to_rows(), len(samples.get("error_rate", []))
    TableArtifact(key=f"release-judge-{name}", table=rows or [{"metric": "-", "classification": "NoData"}],
                  flow_run_id=_run_id(release_run_id),
                  description=f"Release judge for {key}: {v.verdict} (score {v.score:.0f}): {v.explanation}").create()
    _judge_chart(name, key, before, samples, v, release_run_id)
    record(s.gitops_dir, Decision(
        kind="release-verdict", subject=key, verdict=v.verdict, digest=manifest_digest, explanation=v.explanation,
        policy_rule="policies/release-judge.yaml ("
                    + ("slot-paired signed-rank / count tests" if v.paired else "Mann-Whitney U") + " + effect floor)",
        model={"name": "release-judge", "version": v.judge_version},
        data={"baseline_digest": baseline.manifest_digest if baseline else None, "looks": v.looks, "requests": n_side,
              "first_look_requests": requests,
              "baseline": None if baseline is None else "fresh: re-admitted beside the new digest, sampled interleaved"
              if baseline.fresh else "sampled before the switch",
              "gx_result": outcome.result_id},
        output={"score": v.score, "metrics": rows}, flow_run_id=release_run_id,
        action={"anomalous": "roll back per approval policy", "hold": "release kept; a person is alerted"}
        .get(verdict, "none")))
    return AiVerdict(verdict=verdict, judge=v.verdict, score=v.score, explanation=v.explanation, subject=key,
                     metrics=rows, looks=v.looks, requests=n_side)


def _run_id(release_run_id: str):
    """The release run the AI check's artifacts belong to (it is a subflow; the operator opens the
    release), or None: the current run's."""
    from uuid import UUID

    return UUID(release_run_id) if release_run_id else None


def _judge_chart(name: str, key: str, baseline, canary, v, release_run_id: str = "") -> None:
    """The canary-vs-baseline picture as an image in the release run's artifacts (the Prefect UI shows it)."""
    from wasmops.pictures import markdown_image
    from wasmops.ai.release_check import chart_png

    MarkdownArtifact(key=f"release-judge-chart-{name}", description=f"Canary vs baseline for {key}",
                     flow_run_id=_run_id(release_run_id),
                     markdown=f"## {key}: release judge {v.verdict}\n\n{v.explanation}\n\n"
                              f"{markdown_image(chart_png(baseline, canary), 'canary vs baseline')}").create()
