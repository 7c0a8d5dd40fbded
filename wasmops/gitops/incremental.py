"""Reconcile often for little: a reconciler that remembers its last pass and redoes only what changed.

Planning is a pure function of (manifest, the host's live entry, quarantine, broken files). An
:class:`IncrementalReconciler` keeps the last pass's inputs and report; the next pass re-plans only
the modules whose manifest object (the :class:`~wasmops.gitops.desired_loader.DesiredLoader` reuses the
objects of unchanged files) or live entry changed, plus every module that was not settled (changed,
waiting or stalled: those are retried each pass). A pass where nothing changed at all returns the
last report (``report.skipped``)::

    >>> from wasmops.gitops.desired_loader import DesiredLoader
    >>> from wasmops.gitops.incremental import IncrementalReconciler
    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.gitops.repo import GitOpsRepo; from wasmops.gitops.repo_init import init_repo
    >>> repo = GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))   # seeded from deployments/
    >>> class Host:                        # the HostAPI in memory: every module Healthy at once
    ...     def __init__(self): self.live = {}
    ...     def modules(self): return list(self.live.values())
    ...     def deploy(self, namespace, name, **body):
    ...         self.live[f"{namespace}/{name}"] = {"namespace": namespace, "name": name, "health": "Healthy", **body}
    ...         return {}
    ...     def delete(self, namespace, name): return self.live.pop(f"{namespace}/{name}")
    >>> _ = repo.set_module_ref("dev/sum-wat", tag="v1", digest="sha256:" + "a" * 64, provenance={})
    >>> loader, rec = DesiredLoader(repo.path), IncrementalReconciler(Host(), registry="oci-layout:///tmp/oci")
    >>> report = rec.reconcile(loader.load("main"))        # first pass: everything, as reconcile()
    >>> report.summary()
    'heal: 1 create, 0 update, 0 delete, 0 noop, 3 skip → 4 done; drift in 1 module'
    >>> report.conditions["dev/sum-wat"]["Ready"].status, report.conditions["dev/greet-c"]["Ready"].reason
    ('True', 'NotReleased')
    >>> rec.reconcile(loader.load("main")).skipped, rec.replanned   # the host changed: what changed is re-planned
    (False, 1)
    >>> rec.reconcile(loader.load("main")).skipped, rec.replanned   # nothing changed: a comparison
    (True, 0)

Drift made by hand changes the live list, so it is always seen. When the quarantine list or the set
of broken files changes, the pass is a full one. The result equals a full :func:`reconcile` pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from wasmops.gitops.desired import Deployments, DesiredState
from wasmops.errors import is_retryable
from wasmops.gitops.plan import Plan, _live_by_key
from wasmops.gitops.reconcile import DONE, HostAPI, ReconcileReport, _unreachable, reconcile_live


@dataclass
class _Pass:
    desired: DesiredState
    live: list[dict]
    live_by_key: dict[str, dict]
    report: ReconcileReport
    unsettled: set[str]        # keys to re-plan next pass whatever happens (changed, waiting, stalled)


def _unsettled(rep: ReconcileReport) -> set[str]:
    return {a.key for a in rep.plan
            if not (a.kind in ("noop", "skip") and not a.invalid and rep.next.get(a.key) == DONE)}


def _key(m: dict) -> str:
    return f"{m['namespace']}/{m['name']}"


class IncrementalReconciler:
    """:func:`~wasmops.gitops.reconcile.reconcile` against one host, pass after pass, redoing only what changed."""

    def __init__(self, host: HostAPI, *, registry: str, mode: Literal["heal", "report"] = "heal",
                 prune: bool = True, namespaces: set[str] | None = None, wait_healthy: bool = True,
                 timeout_s: float = 30.0, check_binding: bool = False):
        self.host, self.registry, self.mode, self.prune = host, registry, mode, prune
        self.namespaces, self.wait_healthy, self.timeout_s = namespaces, wait_healthy, timeout_s
        self.check_binding = check_binding   # the agent turns it on: admission's digest-to-ref check first
        self.last: _Pass | None = None
        self.replanned = 0        # modules planned in the last pass (for benchmarks and status)

    def reconcile(self, desired: DesiredState) -> ReconcileReport:
        try:
            live = self.host.modules()
        except Exception as exc:
            if not is_retryable(exc):
                raise
            self.last = None
            return _unreachable(desired, f"{type(exc).__name__}: {exc}", self.mode, False, self.namespaces)
        prev = self.last
        if prev and prev.desired is desired and not prev.unsettled and prev.live == live:
            self.replanned = 0
            return replace(prev.report, skipped=True)
        if prev and self._same_frame(prev.desired, desired):
            live_changed, by_key = self._live_delta(prev, live)
            dirty = self._desired_delta(prev, desired) | live_changed | prev.unsettled
            rep, unsettled = self._partial(desired, by_key, dirty, prev)
            self.last = _Pass(desired, live, by_key, rep, unsettled)
        else:
            by_key = _live_by_key(live, self.namespaces)
            self.replanned = len(desired.deployments)
            rep = reconcile_live(desired, live, self.host, **self._kw())
            self.last = _Pass(desired, live, by_key, rep, _unsettled(rep))
        return rep

    def _kw(self) -> dict:
        return dict(registry=self.registry, mode=self.mode, prune=self.prune, namespaces=self.namespaces,
                    wait_healthy=self.wait_healthy, timeout_s=self.timeout_s, check_binding=self.check_binding)

    @staticmethod
    def _same_frame(a: DesiredState, b: DesiredState) -> bool:
        """What every module's plan depends on besides its own manifest and live entry."""
        return a is b or (a.quarantine == b.quarantine and a.errors == b.errors)

    @staticmethod
    def _desired_delta(prev: _Pass, desired: DesiredState) -> set[str]:
        """Keys whose manifest object changed: from the loader's delta when it starts at our last state."""
        if desired is prev.desired:
            return set()
        if desired.changed is not None and desired.base_revision == prev.desired.revision:
            return set(desired.changed)
        old, new = prev.desired.deployments, desired.deployments
        out = {k for k, m in new.items() if old.get(k) is not m}
        out.update(old.keys() - new.keys())
        return out

    def _live_delta(self, prev: _Pass, live: list[dict]) -> tuple[set[str], dict[str, dict]]:
        """Keys whose live entry changed, and the live entries by key."""
        if self.namespaces is None and len(live) == len(prev.live):
            changed, new = set(), {}
            for a, b in zip(live, prev.live):
                if a != b:
                    new[_key(a)] = a
                    changed.update((_key(a), _key(b)))
            if not changed:
                return changed, prev.live_by_key
            by_key = dict(prev.live_by_key)
            for k in changed - new.keys():
                del by_key[k]
            by_key.update(new)
            return changed, by_key
        by_key, was = _live_by_key(live, self.namespaces), prev.live_by_key
        return {k for k in by_key.keys() | was.keys() if by_key.get(k) != was.get(k)}, by_key

    def _partial(self, desired: DesiredState, by_key: dict[str, dict], dirty: set[str],
                 prev: _Pass) -> tuple[ReconcileReport, set[str]]:
        self.replanned = len(dirty)
        deps = desired.deployments
        sub = DesiredState(desired.revision, Deployments({k: deps[k] for k in dirty if k in deps}),
                           files=desired.files, quarantine=desired.quarantine, budgets=desired.budgets,
                           pricing=desired.pricing, errors=desired.errors)
        rep = reconcile_live(sub, [by_key[k] for k in sorted(dirty) if k in by_key], self.host, **self._kw())
        unsettled = _unsettled(rep)      # of the re-planned modules only: the others were settled
        return _merge(rep, prev.report, dirty | (prev.report.conditions.keys() - deps.keys())), unsettled


def _merge(rep: ReconcileReport, old: ReconcileReport, redone: set[str]) -> ReconcileReport:
    """``old`` with the ``redone`` modules' results replaced by ``rep``'s (dict copies, no re-sorting)."""
    actions = [a for a in old.plan.actions if a.key not in redone] + rep.plan.actions
    conditions, nxt = dict(old.conditions), dict(old.next)
    for k in redone:
        conditions.pop(k, None)
        nxt.pop(k, None)
    conditions.update(rep.conditions)
    nxt.update(rep.next)
    rep.plan, rep.conditions, rep.next = Plan(actions, rep.plan.revision), conditions, nxt
    return rep
