"""Bring the host to Git's desired state: plan, apply, detect drift, report conditions.

Shaped like Flux's source-controller: a plan is an ordered list of actions, each module's apply stops
at its first error while the others go on, and every module ends with named conditions from which
``Ready`` is summarised once by ``READY_TABLE``. A module that is not Ready says what happens next:
``stalled`` (a person must act: signature, policy or quarantine refusal, drift left in report mode)
or ``waiting`` (retrying later can help: host unreachable, not healthy yet)::

    >>> from wasmops.gitops.desired import DesiredState
    >>> from wasmops.gitops.reconcile import plan
    >>> plan(DesiredState(revision=None), [], registry="oci-layout:///tmp/oci").summary()
    '0 create, 0 update, 0 delete, 0 noop, 0 skip'

Against a running host, as ``wasmops reconcile`` does it (``HostClient`` satisfies ``HostAPI``; the
example of :mod:`wasmops.gitops.incremental` runs one pass against a ``HostAPI`` in memory)::

    >>> from wasmops.config import current; from wasmops.gitops.repo import GitOpsRepo
    >>> from wasmops.host.client import HostClient
    >>> s = current()
    >>> report = reconcile(GitOpsRepo.from_settings(s).desired(), HostClient.from_workspace(s),  # doctest: +SKIP
    ...                    registry=s.registry_base)
    >>> report.conditions["dev/greet-c"]["Ready"].status, report.next["dev/greet-c"]   # doctest: +SKIP
    ('True', 'done')

The desired state comes from a commit (``GitOpsRepo.desired()``: the branch tip, never the working
tree). A manifest that does not validate is planned as a skip of its own: ``ManifestValid=False``
gives ``Stalled`` (``InvalidManifest``) with the file and the field, the host keeps whatever it runs
for that module (a typo never prunes), and every other manifest is applied. ``report.ok`` ignores
broken manifests (a release beside one still converges); ``report.complete`` does not.

Drift is any way the host differs from Git (a digest, limit, env, label, trust level or replica
count changed through the admin API; a module deleted or added by hand). With no record of past
applies, a Git change not yet applied shows as drift too: either way the host is not serving Git.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal, Protocol

from wasmops.digests import shown
from wasmops.errors import IntegrityError, NotFound, UserError, is_retryable
from wasmops.gitops.desired import DesiredState
from wasmops.gitops.plan import (Action, Drift, Plan, _fmt, _live_by_key, desired_spec, detect_drift,  # noqa: F401
                                 drift_in, live_spec, plan)  # re-exported: the reconciler's public API
from wasmops.gitops.report import (DONE, FALSE, NEXT_TEXT, STALLED, TRUE, UNKNOWN,  # noqa: F401
                                   WAITING, WAITING_DELAY_S, Condition, ReconcileReport,
                                   _ready, summarise_ready)  # re-exported: the report is part of its API
from wasmops.host.admission import STEPS as ADMISSION_STEPS, bound_signature


class HostAPI(Protocol):
    """The admin calls the reconciler needs (the canary ones only for a module with a canary rollout,
    see ``wasmops.gitops.rollout_plan``: ``set_canary``, ``delete_canary``, ``promote_canary``)."""

    def modules(self) -> list[dict]: ...
    def deploy(self, namespace: str, name: str, **body) -> dict: ...
    def delete(self, namespace: str, name: str) -> dict: ...


def _deploy(a: Action, host: HostAPI, c: dict[str, Condition]) -> None:
    ns, name = a.key.split("/", 1)
    if a.promote:
        host.promote_canary(ns, name)
    if a.body is not None:   # None: the stable digest is up to date, only the canary changes
        host.deploy(ns, name, **a.body)
    c["Admitted"] = Condition("Admitted", TRUE, "Deployed", f"host {'serves' if a.body is None else 'admitted'} "
                                                            f"{shown('manifest', a.digest)}")
    c["SignatureVerified"] = Condition("SignatureVerified", TRUE, "Verified", "signature verified at admission")


def _bound(a: Action, c: dict[str, Condition], timeout_s: float) -> None:
    """Admission's digest-to-ref check, before the host is asked: another module's digest stalls here."""
    try:
        bound_signature(a.body["ref"], a.body["digest"], timeout_s=timeout_s)
        c["ArtifactBound"] = Condition("ArtifactBound", TRUE, "Bound", f"{shown('manifest', a.digest)} belongs to {a.body['ref']}")
    except IntegrityError as exc:
        c["ArtifactBound"] = Condition("ArtifactBound", FALSE, "ArtifactNotBound", str(exc))
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable from here: host admission makes the same check
        c["ArtifactBound"] = Condition("ArtifactBound", UNKNOWN, "NotChecked", f"{type(exc).__name__}: {exc}")


def _delete(a: Action, host: HostAPI, c: dict[str, Condition]) -> None:
    ns, name = a.key.split("/", 1)
    try:
        host.delete(ns, name)
    except NotFound:
        pass    # already gone: what Git wants
    c["Admitted"] = Condition("Admitted", TRUE, "Pruned", "deleted: not in Git")


def _canary(a: Action, host: HostAPI, c: dict[str, Condition]) -> None:
    """Serve the canary Git asks for at its weight, or remove one Git does not ask for."""
    ns, name = a.key.split("/", 1)
    if a.canary is not None:
        host.set_canary(ns, name, **a.canary)
        c["Admitted"] = replace(c["Admitted"], message=f"{c['Admitted'].message}; canary "
                                f"{shown('manifest', a.canary['digest'])} at {a.canary['weight']} %")
    elif (a.live or {}).get("canary") and not a.promote:
        try:
            host.delete_canary(ns, name)
        except NotFound:
            pass


# Each action is an ordered list of sub-steps with one signature; a module stops at its first error.
STEPS = {"create": (_deploy, _canary), "update": (_deploy, _canary), "delete": (_delete,)}


def _refused(exc: Exception, c: dict[str, Condition]) -> None:
    """Record what the host reports: the admission step that refused (``exc.step``, from the host's
    error body) sets the conditions, since every earlier step passed (``ADMISSION_STEPS``)."""
    retry = is_retryable(exc)
    step = getattr(exc, "step", None)
    where = f" at admission step {step!r}" if step else ""
    hint = ("; the registry has no artifact at the manifest's spec.moduleRef (check its digest and repository)"
            if step == "pull" and isinstance(exc, NotFound) else "")
    c["Admitted"] = Condition("Admitted", FALSE, "Unavailable" if retry else "Refused",
                              f"{type(exc).__name__}{where}: {exc}{hint}")
    if step == "signature":
        c["SignatureVerified"] = Condition("SignatureVerified", FALSE, "SignatureError", str(exc))
    elif step in ADMISSION_STEPS and ADMISSION_STEPS.index(step) > ADMISSION_STEPS.index("signature"):
        c["SignatureVerified"] = Condition("SignatureVerified", TRUE, "Verified",
                                           f"verified before the {step} step refused")
    elif step == "quarantine":
        c["Quarantined"] = Condition("Quarantined", TRUE, "QuarantinedOnHost", str(exc))


_UP_TO_DATE = {c.type: c for c in (
    Condition("Quarantined", FALSE, "NotQuarantined"), Condition("DriftDetected", FALSE, "NoDrift"),
    Condition("SignatureVerified", TRUE, "Verified", "verified when it was admitted"),
    Condition("Healthy", TRUE, "Healthy", "host reports Healthy"),
    Condition("Admitted", TRUE, "UpToDate", "host serves what Git says"))}


def _initial(a: Action) -> dict[str, Condition]:
    """Conditions known from the plan alone, before anything is applied."""
    if a.invalid:
        return {"ManifestValid": Condition("ManifestValid", FALSE, "InvalidManifest", a.invalid),
                "Admitted": Condition("Admitted", UNKNOWN, "NotApplied",
                                      "host keeps what it runs" if a.live else "nothing applied")}
    if a.kind == "noop" and (a.live or {}).get("health", "Healthy") == "Healthy":
        return dict(_UP_TO_DATE)
    quarantined = a.kind == "skip" and a.digest is not None
    changed = a.kind in STEPS
    c = {"Quarantined": Condition("Quarantined", TRUE if quarantined else FALSE,
                                  "InQuarantine" if quarantined else "NotQuarantined", a.reason if quarantined else ""),
         "DriftDetected": Condition("DriftDetected", TRUE if changed else FALSE,
                                    "DriftReported" if changed else "NoDrift", a.reason if changed else ""),
         "SignatureVerified": Condition("SignatureVerified", UNKNOWN, "NotChecked", ""),
         "Healthy": Condition("Healthy", UNKNOWN, "NotChecked", "")}
    if a.kind == "noop":
        health = a.live.get("health")
        c.update(Admitted=_UP_TO_DATE["Admitted"], SignatureVerified=_UP_TO_DATE["SignatureVerified"],
                 Healthy=Condition("Healthy", FALSE, str(health), f"host reports {health}"))
    elif a.kind == "skip":
        reason = "Skipped" if a.digest else "PruneHeld" if a.live else "NotReleased"
        c["Admitted"] = Condition("Admitted", UNKNOWN, reason, a.reason)
    else:
        c["Admitted"] = Condition("Admitted", UNKNOWN, "NotApplied", a.reason)
    return c


def apply(plan: Plan, host: HostAPI, *, wait_healthy: bool = True, timeout_s: float = 30.0,
          drift: list[Drift] | None = None, check_binding: bool = False) -> ReconcileReport:
    """Execute ``plan`` in order, then wait (bounded) until the host serves every change Healthy."""
    rep = ReconcileReport(plan, drift=list(drift or []))
    pending: dict[str, Action] = {}
    for a in plan:
        c = rep.conditions[a.key] = _initial(a)
        try:
            if check_binding and a.kind in ("create", "update") and a.body and "ref" in a.body:
                _bound(a, c, timeout_s)
            for step in STEPS.get(a.kind, ()):
                step(a, host, c)
        except Exception as exc:   # noqa: BLE001 - one module's failure must not stop the others
            _refused(exc, c)
            continue
        if a.kind in STEPS:
            rep.applied.append(a)
            c["DriftDetected"] = replace(c["DriftDetected"], reason="DriftHealed")
            pending[a.key] = a
    if wait_healthy and pending:
        _wait(pending, host, rep.conditions, timeout_s)
    _summarise(rep)
    return rep


def _wait(pending: dict[str, Action], host: HostAPI, conds: dict[str, dict[str, Condition]], timeout_s: float) -> None:
    deadline, delay, last = time.monotonic() + timeout_s, 0.02, {}
    while True:
        try:
            live = _live_by_key(host.modules(), None)
        except Exception:   # noqa: BLE001 - a blip while polling: keep polling until the deadline
            live = None
        for key, a in (list(pending.items()) if live is not None else []):
            cur = last[key] = live.get(key)
            if a.kind == "delete" and cur is None:
                del pending[key]
            elif a.kind != "delete" and cur and cur.get("digest") == a.digest and cur.get("health") == "Healthy":
                conds[key]["Healthy"] = Condition("Healthy", TRUE, "Healthy", f"host serves {shown('manifest', a.digest)}")
                del pending[key]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)
    for key, a in pending.items():
        cur = last.get(key)
        if a.kind == "delete":
            conds[key]["Admitted"] = Condition("Admitted", FALSE, "Unavailable", f"still listed after {timeout_s:g}s")
        else:
            seen = f"host has {shown('manifest', cur.get('digest'))}, {cur.get('health')}" if cur else "host does not list it"
            conds[key]["Healthy"] = Condition("Healthy", FALSE if cur else UNKNOWN, "Timeout",
                                              f"not serving {shown('manifest', a.digest)} Healthy after {timeout_s:g}s ({seen})")


_NOT_STALLED = Condition("Stalled", FALSE, "NotStalled")


def _summarise(rep: ReconcileReport) -> None:
    for key, c in rep.conditions.items():
        ready, nxt = summarise_ready(c)
        c["Ready"], rep.next[key] = ready, nxt
        c["Stalled"] = Condition("Stalled", TRUE, ready.reason, ready.message) if nxt == STALLED else _NOT_STALLED


def _unreachable(desired: DesiredState, error: str, mode: str, dry_run: bool,
                 namespaces: set[str] | None) -> ReconcileReport:
    """The report when the host cannot be read: every module waits; broken manifests still stall."""
    broken = [a for a in plan(desired, [], registry="", prune=False, namespaces=namespaces) if a.invalid]
    rep = ReconcileReport(Plan(broken, desired.revision), mode=mode, dry_run=dry_run, error=error)
    rep.conditions = {k: {"Admitted": Condition("Admitted", FALSE, "Unavailable", error)}
                      for k, m in sorted(desired.deployments.items())
                      if namespaces is None or m.metadata.namespace in namespaces}
    rep.conditions.update({a.key: _initial(a) for a in broken})
    _summarise(rep)
    return rep


def reconcile(desired: DesiredState, host: HostAPI, *, registry: str, mode: Literal["heal", "report"] = "heal",
              dry_run: bool = False, prune: bool = True, namespaces: set[str] | None = None,
              wait_healthy: bool = True, timeout_s: float = 30.0, check_binding: bool = False) -> ReconcileReport:
    """One reconcile: read the host, plan, detect drift; ``heal`` applies the plan, ``report`` and
    ``dry_run`` apply nothing. An unreachable host gives a report whose modules are all waiting."""
    if mode not in ("heal", "report"):
        raise UserError(f"mode: {mode!r} is not heal or report")
    try:
        live = host.modules()
    except Exception as exc:
        if not is_retryable(exc):
            raise
        return _unreachable(desired, f"{type(exc).__name__}: {exc}", mode, dry_run, namespaces)
    return reconcile_live(desired, live, host, registry=registry, mode=mode, dry_run=dry_run, prune=prune,
                          namespaces=namespaces, wait_healthy=wait_healthy, timeout_s=timeout_s,
                          check_binding=check_binding)


def reconcile_live(desired: DesiredState, live: list[dict], host: HostAPI, *, registry: str,
                   mode: Literal["heal", "report"] = "heal", dry_run: bool = False, prune: bool = True,
                   namespaces: set[str] | None = None, wait_healthy: bool = True,
                   timeout_s: float = 30.0, check_binding: bool = False) -> ReconcileReport:
    """:func:`reconcile` with the host's live modules already read (``live``)."""
    full = plan(desired, live, registry=registry, namespaces=namespaces)  # extras are drift even if not pruned
    drift = drift_in(full)
    p = full if prune else Plan([a for a in full if a.kind != "delete"], full.revision)
    if mode == "heal" and not dry_run:
        rep = apply(p, host, wait_healthy=wait_healthy, timeout_s=timeout_s, drift=drift, check_binding=check_binding)
    else:
        rep = ReconcileReport(p, drift=drift)
        for a in p:
            c = rep.conditions[a.key] = _initial(a)
            if dry_run and a.kind in STEPS:
                c["Admitted"] = Condition("Admitted", UNKNOWN, "DryRun", f"dry run: would {a.kind} ({a.reason})")
                c["DriftDetected"] = replace(c["DriftDetected"], reason="DriftDetected")
    found: dict[str, list[str]] = {}
    for d in drift:
        found.setdefault(d.key, []).append(d.message)
    for key, msgs in found.items():    # an extra module outside the plan (prune=False) stays as it is
        c = rep.conditions.setdefault(key, {"Admitted": Condition("Admitted", UNKNOWN, "NotInGit", "not pruned")})
        reason = c["DriftDetected"].reason if "DriftDetected" in c else "DriftReported"
        c["DriftDetected"] = Condition("DriftDetected", TRUE, reason, "; ".join(msgs))
    rep.mode, rep.dry_run = mode, dry_run
    _summarise(rep)
    return rep

