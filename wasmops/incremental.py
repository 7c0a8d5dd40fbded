"""Reconcile often for little: a reconciler that remembers its last pass and redoes only what changed.

Planning is a pure function of (manifest, the host's live entry, quarantine, broken files). An
:class:`IncrementalReconciler` keeps the last pass's inputs and report; the next pass re-plans only
the modules whose manifest object (the :class:`~wasmops.desired_loader.DesiredLoader` reuses the
objects of unchanged files) or live entry changed, plus every module that was not settled (changed,
waiting or stalled: those are retried each pass). A pass where nothing changed at all returns the
last report (``report.skipped``)::

    >>> from wasmops.desired_loader import DesiredLoader
    >>> from wasmops.incremental import IncrementalReconciler
    >>> loader, rec = DesiredLoader(".wasmops/gitops"), IncrementalReconciler(host, registry=reg)  # doctest: +SKIP
    >>> rec.reconcile(loader.load("main")).summary()     # first pass: everything        # doctest: +SKIP
    >>> rec.reconcile(loader.load("main")).skipped       # nothing changed: a comparison # doctest: +SKIP
    True

Drift made by hand changes the live list, so it is always seen. When the quarantine list or the set
of broken files changes, the pass is a full one. The result equals a full :func:`reconcile` pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .desired import Deployments, DesiredState
from .errors import is_retryable
from .plan import Plan, _live_by_key
from .reconcile import DONE, HostAPI, ReconcileReport, _unreachable, reconcile_live


@dataclass
class _Pass:
    desired: DesiredState
    live: list[dict]
    live_by_key: dict[str, dict]
    report: ReconcileReport
    settled: set[str]          # keys whose result holds as long as their inputs do


def _settled(rep: ReconcileReport) -> set[str]:
    return {a.key for a in rep.plan if a.kind in ("noop", "skip") and not a.invalid and rep.next.get(a.key) == DONE}


class IncrementalReconciler:
    """:func:`~wasmops.reconcile.reconcile` against one host, pass after pass, redoing only what changed."""

    def __init__(self, host: HostAPI, *, registry: str, mode: Literal["heal", "report"] = "heal",
                 prune: bool = True, namespaces: set[str] | None = None, wait_healthy: bool = True,
                 timeout_s: float = 30.0):
        self.host, self.registry, self.mode, self.prune = host, registry, mode, prune
        self.namespaces, self.wait_healthy, self.timeout_s = namespaces, wait_healthy, timeout_s
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
        if prev and prev.desired is desired and len(prev.settled) == len(prev.report.plan.actions) \
                and prev.live == live:
            self.replanned = 0
            return replace(prev.report, skipped=True)
        by_key = _live_by_key(live, self.namespaces)
        dirty = self._dirty(prev, desired, by_key) if prev and self._same_frame(prev.desired, desired) else None
        rep = self._run(desired, live, by_key, dirty, prev)
        self.last = _Pass(desired, live, by_key, rep, _settled(rep))
        return rep

    @staticmethod
    def _same_frame(a: DesiredState, b: DesiredState) -> bool:
        """What every module's plan depends on besides its own manifest and live entry."""
        return a is b or (a.quarantine == b.quarantine and a.errors == b.errors)

    def _dirty(self, prev: _Pass, desired: DesiredState, by_key: dict[str, dict]) -> set[str]:
        old, new, was = prev.desired.deployments, desired.deployments, prev.live_by_key
        dirty = {k for k, m in new.items()
                 if k not in prev.settled or old.get(k) is not m or by_key.get(k) != was.get(k)}
        dirty.update(k for k in by_key if k not in new)     # extras: pruned, or held by a broken file
        return dirty

    def _run(self, desired: DesiredState, live: list[dict], by_key: dict[str, dict], dirty: set[str] | None,
             prev: _Pass | None) -> ReconcileReport:
        kw = dict(registry=self.registry, mode=self.mode, prune=self.prune, namespaces=self.namespaces,
                  wait_healthy=self.wait_healthy, timeout_s=self.timeout_s)
        if dirty is None:
            self.replanned = len(desired.deployments)
            return reconcile_live(desired, live, self.host, **kw)
        self.replanned = len(dirty)
        sub = DesiredState(desired.revision, Deployments({k: desired.deployments[k] for k in dirty
                                                          if k in desired.deployments}),
                           files=desired.files, quarantine=desired.quarantine, budgets=desired.budgets,
                           pricing=desired.pricing, errors=desired.errors)
        rep = reconcile_live(sub, [by_key[k] for k in sorted(dirty) if k in by_key], self.host, **kw)
        return _merge(rep, prev.report, [k for k in desired.deployments if k not in dirty])


def _merge(rep: ReconcileReport, old: ReconcileReport, kept: list[str]) -> ReconcileReport:
    """``rep`` (the re-planned modules) plus ``old``'s results for the ``kept`` ones, in key order."""
    old_actions = {a.key: a for a in old.plan}
    actions = [old_actions[k] for k in kept if k in old_actions] + rep.plan.actions
    actions.sort(key=lambda a: (a.kind == "delete", a.invalid is not None, a.key))
    conditions = {k: old.conditions[k] for k in kept if k in old.conditions}
    conditions.update(rep.conditions)
    rep.plan = Plan(actions, rep.plan.revision)
    rep.conditions = dict(sorted(conditions.items()))
    rep.next = {**{k: DONE for k in kept if k in old.conditions}, **rep.next}
    return rep
