"""Canary tasks: one per step (set the weight through Git + reconcile, drive traffic pinned to each
digest for the pause, judge canary vs stable over that same window), abort, promote.

The weight is desired state: a step commits ``spec.rollout.inProgress`` to Git and reconciles, so
a host restart mid-rollout comes back at the same weight (``wasmops.gitops.rollout``). Abort goes to the
host first (``DELETE .../canary``: 100 % stable from the next request); Git follows (the flow's
sticky rollback reverts the release and quarantines the canary digest).

Fleet mode (``WASMOPS_FLEET_AGENTS``): nobody reconciles centrally. A step pushes the weight and waits
until every matching host's agent reports the split (stable plus the canary at that weight,
``await_fleet`` with ``canary``); both digests are sampled on one of those hosts (the first by URL,
every step the same). Abort deletes the canary on every matching host the agents report, then Git
follows as above (an agent that passes before the revert lands puts the split back until it does).
Promotion pushes the end of the rollout and waits until the hosts serve the canary alone.
"""

from __future__ import annotations

import time

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from wasmops.config import current
from wasmops.digests import shown
from wasmops.supply.source import ModuleSource

from ._common import retried_inside


def write_progress(key: str, progress: dict | None, message: str) -> bool:
    """Set (or with None remove) ``spec.rollout.inProgress`` of ``key``'s manifest in one commit, edited
    in place: comments, key order and quoting stay (found from outside: a round trip through
    ``yaml.safe_dump`` dropped the owner's comments and restyled the steps)."""
    from wasmops.gitops import yamledit
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(current())
    path = repo.manifest_file(key)
    data = yamledit.load(path)
    rollout = data["spec"].setdefault("rollout", {})
    if progress is None:
        rollout.pop("inProgress", None)
    else:
        rollout["inProgress"] = progress
    rel = str(path.relative_to(repo.path))
    return repo.write_files({rel: yamledit.dumps(data)}, message).changed


@task(name="canary-step", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def canary_step(key: str, step: int, weight: int, pause_s: float, stable: dict, canary: str,
                src: ModuleSource, requests: int = 30) -> dict:
    """Serve the canary at ``weight`` (Git, then reconcile), wait ``pause_s`` while sampling both
    digests, judge canary vs stable (stable = baseline); table artifact and decision record."""
    from prefect.runtime import flow_run

    from wasmops.gitops.decisions import Decision, record
    from wasmops.ai.release_check import judge_interleaved, load_policy

    from .release import _host, probes

    s = current()
    write_progress(key, {"stable": stable, "step": step, "weight": weight}, f"canary {key} step {step}: {weight} %")
    host_url = _apply_step(key, stable["digest"], canary, weight)
    hc = _host(s, host_url)
    sampled_on = hc.url                              # the host sampled (fleet or the workspace's own)
    t0, before = time.time(), _scrape(hc, key)
    base, can, v = judge_interleaved(hc, *key.split("/", 1), probes(src, key), stable["digest"], canary,
                                     load_policy(s.gitops_dir), requests=requests, pause_s=pause_s)
    v, live = _with_live_errors(v, before, _scrape(hc, key), stable["digest"], canary)
    rows = v.to_rows()
    name = key.split("/", 1)[1]
    create_table_artifact(key=f"canary-{name}-step-{step}", table=rows or [{"metric": "-", "classification": "NoData"}],
                          description=f"Canary {key} step {step} at {weight} %: {v.verdict} (score {v.score:.0f}): "
                                      f"{v.explanation}")
    nxt = {"pass": "next step", "fail": "abort to stable, quarantine, revert"}.get(v.verdict, "hold: ask a person")
    d = record(s.gitops_dir, Decision(
        kind="canary-step", subject=key, verdict=v.verdict, digest=canary, explanation=v.explanation,
        policy_rule="policies/release-judge.yaml (canary vs stable, same window)",
        model={"name": "release-judge", "version": v.judge_version},
        data={"stable_digest": stable["digest"], "step": step, "weight": weight, "pause_s": pause_s,
              "host": sampled_on,
              "window": [t0, time.time()], "looks": v.looks, "live": live, "samples": {"stable": len(base["error_rate"]),
                                                       "canary": len(can["error_rate"])}},
        output={"score": v.score, "metrics": rows}, flow_run_id=str(flow_run.get_id() or ""), action=nxt))
    return {"step": step, "weight": weight, "verdict": v.verdict, "score": v.score, "explanation": v.explanation,
            "metrics": rows, "decision": getattr(d, "id", None), "host": sampled_on}


def _scrape(hc, key: str) -> dict | None:
    """Per digest (calls, errors) of ``key`` on the sampled host now; None when /metrics cannot be read."""
    from wasmops.errors import WasmopsError
    from wasmops.telemetry.scrape import digest_counts as counts

    try:
        return counts(hc.metrics(), *key.split("/", 1))
    except WasmopsError:
        return None


def _with_live_errors(v, before: dict | None, after: dict | None, stable: str, canary: str):
    """The probe verdict, turned into ``hold`` (a person decides; the canary keeps its share meanwhile)
    when the canary's real traffic erred more than stable's in the window (``wasmops.ai.live_errors``);
    and that check's result for the decision record. Not ``fail``: the host splits by an exact counter,
    so traffic that repeats with a period (a health check, a load loop) can send every request of one
    kind to the canary, and a good version was aborted and quarantined that way (docs/decisions.md)."""
    import dataclasses

    from wasmops.ai.live_errors import judge_window

    if before is None or after is None:
        return v, {"verdict": "nodata", "explanation": "the host's /metrics could not be read"}
    lc = judge_window(before, after, stable, canary)
    live = {"verdict": lc.verdict, "explanation": lc.explanation, "stable": lc.stable, "canary": lc.canary}
    if lc.verdict != "fail" or v.verdict in ("fail", "hold"):
        return v, live
    return dataclasses.replace(v, verdict="hold", explanation=f"{lc.explanation} (a person decides); probes: "
                                                              f"{v.explanation}"), live


def _apply_step(key: str, stable: str, canary: str, weight: int) -> str | None:
    """Make the hosts serve the step: reconcile the workspace host (None: sample there), or in fleet mode
    wait for the matching hosts' agents to report the split and return the host to sample on."""
    from .release import _reconcile, await_fleet

    if not current().fleet_agents:
        _reconcile({key.split("/", 1)[0]}).raise_for_status(key)     # Waiting is retried, Stalled is not
        return None
    return await_fleet.fn(key, stable, canary=(canary, weight)).served[0]   # waits out its own attempts


@task(name="canary-abort", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def canary_abort(key: str) -> dict:
    """100 % stable now (the host first; in fleet mode every matching host the agents report); returns
    how long the hosts took, and the fleet hosts that could not be told (their agents follow Git's revert)."""
    from wasmops.errors import NotFound, WasmopsError

    from .release import _host

    ns, name = key.split("/", 1)
    s = current()
    t0 = time.perf_counter()
    hosts = _fleet_hosts(key) if s.fleet_agents else [None]
    failed = {}
    for url in hosts:
        try:
            _host(s, url).delete_canary(ns, name)
        except NotFound:
            pass
        except WasmopsError as exc:
            if url is None:
                raise
            failed[url] = str(exc)
    return {"abort_s": time.perf_counter() - t0, "at": time.time(), "hosts": [h for h in hosts if h], "failed": failed}


def _fleet_hosts(key: str) -> list[str]:
    """The hosts whose agents reconcile ``key`` (their selector matches its manifest), as the agents report them."""
    from wasmops.fleet.status import fleet_status, matching_hosts
    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    m = GitOpsRepo.from_settings(s).desired().deployments.get(key)
    return matching_hosts(fleet_status(s.fleet_agents), key, m.metadata.labels if m else None)


@task(name="canary-promote", cache_policy=NO_CACHE)
@retried_inside                                  # inside the release transaction
def canary_promote(key: str, canary: str) -> dict:
    """Git: the rollout is over (moduleRef, the canary, is what stays); the reconcile promotes it (fleet mode:
    the agents do, and this waits until the matching hosts serve the canary alone)."""
    from .release import _reconcile, await_fleet

    write_progress(key, None, f"canary {key}: promote {shown('manifest', canary)}")
    if current().fleet_agents:
        r = await_fleet.fn(key, canary)
        return {"promoted": canary, "reconcile": r.summary(), "ok": r.done}
    rep = _reconcile({key.split("/", 1)[0]})
    return {"promoted": canary, "reconcile": rep.summary(), "ok": rep.converged(key)}
