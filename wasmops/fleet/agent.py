"""The fleet agent: beside each host, pull the GitOps remote and reconcile that host with its slice of Git.

Flux's pull model: no central process pushes to hosts. Each agent fetches the remote (every
``interval``, and at once when a webhook says something was pushed), keeps the manifests whose
labels match its selector, and reconciles **its own host** with them through
:class:`~wasmops.gitops.incremental.IncrementalReconciler` (quarantine in the plan, admission on the host,
as for ``wasmops reconcile``). A host that was away converges by itself when it is back::

    >>> from wasmops.fleet.agent import Agent, AgentConfig
    >>> from wasmops.gitops.selector import Selector
    >>> agent = Agent(AgentConfig(host_url="http://127.0.0.1:8700", selector=Selector.parse("env=edge"),
    ...                           clone_dir=Path("/srv/agent/gitops"), remote="https://git.example/d.git",
    ...                           registry="oci://registry:5000/wasmops"), HostClient(url, token))  # doctest: +SKIP
    >>> agent.run_once()["conditions"]["Ready"]["status"]                                          # doctest: +SKIP
    'True'

Scope: the agent owns the live modules whose labels match its selector (and the keys its slice of
Git names); pruning never touches anything else on the host. Its state (commits fetched and
applied, conditions per module, drift) is :meth:`Agent.status`, served as JSON on ``/status``
(``wasmops.fleet.agent_server``). Events go to an injected ``emit(event, payload)`` callback, only on change:
``wasmops.agent.reconciled`` (a new revision applied, or changes made) and ``wasmops.agent.drift``.
An unreachable remote leaves the host as it is (and still heals drift against the last commit
fetched), sets ``Stalled`` with the reason, and is retried with exponential back-off. A pass that
fails (the host refuses the token: reason ``Unauthorized``/``Forbidden``; anything else: ``PassFailed``)
sets ``Stalled`` and ``Ready`` False with the error, counts ``failed_passes`` and records ``last_error``;
the next pass that goes through clears it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Literal

from wasmops.fleet.agent_source import GitSource
from wasmops.gitops.desired import DesiredState
from wasmops.gitops.desired_loader import DesiredLoader
from wasmops.errors import WasmopsError
from wasmops.gitops.incremental import IncrementalReconciler
from wasmops.gitops.plan import _fmt
from wasmops.gitops.reconcile import HostAPI, ReconcileReport
from wasmops.gitops.selector import Selector, select

Emit = Callable[[str, dict], None]


@dataclass
class AgentConfig:
    host_url: str
    selector: Selector
    clone_dir: Path
    registry: str
    remote: str | None = None
    branch: str | None = None
    interval_s: float = 30.0
    mode: Literal["heal", "report"] = "heal"
    max_backoff_s: float = 300.0         # an unreachable remote is retried after 1, 2, 4, … s up to this
    timeout_s: float = 30.0              # how long a pass waits for changed modules to serve Healthy


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cond(status: str, reason: str, message: str = "") -> dict:
    return {"status": status, "reason": reason, "message": message, "since": now()}


class ScopedHost:
    """The host as this agent sees it: only modules matching the selector or named by its slice of Git."""

    def __init__(self, host: HostAPI, selector: Selector):
        self.host, self.selector, self.keys = host, selector, frozenset()

    def modules(self) -> list[dict]:
        return [m for m in self.host.modules()
                if self.selector.matches(m.get("labels")) or f"{m['namespace']}/{m['name']}" in self.keys]

    def deploy(self, namespace: str, name: str, **body) -> dict:
        return self.host.deploy(namespace, name, **body)

    def delete(self, namespace: str, name: str) -> dict:
        return self.host.delete(namespace, name)

    # a canary rollout in Git (spec.rollout.inProgress): the same split on every matching host
    def set_canary(self, namespace: str, name: str, **body) -> dict:
        return self.host.set_canary(namespace, name, **body)

    def delete_canary(self, namespace: str, name: str) -> dict:
        return self.host.delete_canary(namespace, name)

    def promote_canary(self, namespace: str, name: str) -> dict:
        return self.host.promote_canary(namespace, name)


class Agent:
    def __init__(self, cfg: AgentConfig, host: HostAPI, *, emit: Emit | None = None,
                 log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.source = GitSource(cfg.clone_dir, cfg.remote, cfg.branch)
        self.loader = DesiredLoader(cfg.clone_dir)
        self.scoped = ScopedHost(host, cfg.selector)
        self.reconciler = IncrementalReconciler(self.scoped, registry=cfg.registry, mode=cfg.mode,
                                                timeout_s=cfg.timeout_s, check_binding=True)
        self.emit, self.log = emit or (lambda e, p: None), log or (lambda m: None)
        self.wake, self.stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._loaded: tuple[DesiredState, DesiredState] | None = None   # (full, selected)
        self._fetch_failures, self._next_fetch = 0, 0.0
        self._drift_seen: frozenset = frozenset()
        self._status = self._initial_status()

    # -- status ----------------------------------------------------------------------------------
    def _initial_status(self) -> dict:
        c = self.cfg
        return {"agent": {"host": c.host_url, "selector": str(c.selector), "remote": c.remote,
                          "branch": self.source.branch, "mode": c.mode, "interval_s": c.interval_s,
                          "started_at": now()},
                "revision": {"fetched": None, "fetched_at": None, "committed_at": None,
                             "applied": None, "applied_at": None},
                "conditions": {"SourceReady": _cond("Unknown", "NotFetched"), "Ready": _cond("Unknown", "Starting"),
                               "Stalled": _cond("False", "NotStalled")},
                "modules": {}, "drift": [], "drift_detected_total": 0, "last_drift": None, "broken": {}, "warnings": [],
                "selector_matches": None, "manifests": None,
                "counters": {"fetches": 0, "passes": 0, "failed_passes": 0, "webhooks": 0},
                "last_pass": None, "last_error": None, "retry_in_s": None}

    def status(self) -> dict:
        import copy

        with self._lock:
            return copy.deepcopy(self._status)

    def _set_condition(self, st: dict, ctype: str, status: str, reason: str, message: str = "") -> None:
        old = st["conditions"].get(ctype)
        if old and (old["status"], old["reason"], old["message"]) == (status, reason, message):
            return   # unchanged: keep its 'since'
        st["conditions"][ctype] = _cond(status, reason, message)

    # -- one pass --------------------------------------------------------------------------------
    def run_once(self, *, fetch: bool | None = None) -> dict:
        """Fetch (when due, or ``fetch=True``), load the selected manifests, reconcile; the new status."""
        if fetch or (fetch is None and time.monotonic() >= self._next_fetch):
            self._fetch()
        if self._has_local_tip():
            try:
                self._reconcile()
            except Exception as exc:   # noqa: BLE001 - a pass that fails says why in the status
                self._pass_failed(exc)
        return self.status()

    def _has_local_tip(self) -> bool:
        try:
            self.loader.resolve(self.source.ref)
            return True
        except Exception:   # noqa: BLE001 - no clone yet, or no such branch yet
            return False

    def _fetch(self) -> None:
        try:
            sha = self.source.fetch()
            committed = self.source.committed_at(sha)
        except WasmopsError as exc:
            self._fetch_failed(exc)
            return
        self._fetch_failures, self._next_fetch = 0, time.monotonic() + self.cfg.interval_s
        with self._lock:
            st = self._status
            st["counters"]["fetches"] += 1
            if st["revision"]["fetched"] != sha:
                st["revision"].update(fetched=sha, committed_at=committed)
            st["revision"]["fetched_at"] = now()
            st["retry_in_s"] = None
            self._set_condition(st, "SourceReady", "True", "Fetched", f"fetched {sha[:12]} from {self._where()}")
            if st["conditions"]["Stalled"]["reason"] == "FetchFailed":   # a failing pass stays Stalled
                self._set_condition(st, "Stalled", "False", "NotStalled")

    def _where(self) -> str:
        return self.cfg.remote or str(self.cfg.clone_dir)

    def _fetch_failed(self, exc: WasmopsError) -> None:
        self._fetch_failures += 1
        delay = min(self.cfg.max_backoff_s, min(1.0, self.cfg.interval_s) * 2 ** (self._fetch_failures - 1))
        self._next_fetch = time.monotonic() + delay
        msg = f"cannot fetch {self._where()}: {exc} (attempt {self._fetch_failures}; retry in {delay:g}s; " \
              f"the host keeps serving what it has)"
        with self._lock:
            st = self._status
            st["retry_in_s"] = delay
            self._set_condition(st, "SourceReady", "False", "FetchFailed", str(exc))
            self._set_condition(st, "Stalled", "True", "FetchFailed", msg)
        self.log(msg)

    def _pass_failed(self, exc: Exception) -> None:
        """A pass that raised (the host refused the token, a bug): Stalled and Ready False, with the reason."""
        reason = {401: "Unauthorized", 403: "Forbidden"}.get(getattr(exc, "status", None), "PassFailed")
        hint = f"; check the host token (--host-token-file or WASMOPS_HOST_TOKEN) for {self.cfg.host_url}" \
            if reason != "PassFailed" else ""
        msg = f"pass failed: {type(exc).__name__}: {exc}{hint}"
        with self._lock:
            st = self._status
            new = st["conditions"]["Stalled"]["message"] != msg
            st["counters"]["failed_passes"] += 1
            st["last_error"] = {"at": now(), "reason": reason, "message": msg}
            self._set_condition(st, "Stalled", "True", reason, msg)
            self._set_condition(st, "Ready", "False", reason, msg)
        if new:
            self.log(msg)

    def _select(self) -> DesiredState:
        full = self.loader.load(self.source.ref)
        if self._loaded is None or self._loaded[0] is not full:
            sel = select(full, self.cfg.selector)
            self._loaded = (full, sel)
            self.scoped.keys = frozenset(sel.deployments) | frozenset(sel.deployments.broken)
            self._note_selection(full, sel)
        return self._loaded[1]

    def _note_selection(self, full: DesiredState, sel: DesiredState) -> None:
        warn = []
        if not sel.deployments:
            seen = sorted({f"{k}={v}" for m in full.deployments.values() for k, v in m.metadata.labels.items()
                           if k not in ("team", "project")})
            warn.append(f"selector {self.cfg.selector} matches none of the {len(full.deployments)} manifests at "
                        f"{(full.revision or '')[:12]} (labels in Git: {', '.join(seen[:20]) or 'only team/project'})")
        with self._lock:
            self._status.update(selector_matches=len(sel.deployments), manifests=len(full.deployments), warnings=warn)
        for w in warn:
            self.log(w)

    def _reconcile(self) -> None:
        t0 = time.perf_counter()
        try:
            desired = self._select()
        except WasmopsError as exc:   # a broken quarantine.yaml: nothing may be deployed safely
            with self._lock:
                self._set_condition(self._status, "Ready", "False", "InvalidSource", str(exc))
            self.log(f"cannot load the desired state: {exc}")
            return
        rep = self.reconciler.reconcile(desired)
        self._record(desired, rep, time.perf_counter() - t0)

    # -- recording a pass ------------------------------------------------------------------------
    def _record(self, desired: DesiredState, rep: ReconcileReport, seconds: float) -> None:
        with self._lock:
            st = self._status
            prev_applied = st["revision"]["applied"]
            st["counters"]["passes"] += 1
            st["last_pass"] = {"at": now(), "revision": desired.revision, "summary": rep.summary(),
                               "skipped": rep.skipped, "seconds": round(seconds, 4),
                               "load": self.loader.last.mode if self.loader.last else None,
                               "replanned": self.reconciler.replanned}
            if not rep.skipped:
                st["modules"] = _modules(desired, rep)
                st["broken"] = dict(rep.invalid)
            if rep.ok and prev_applied != desired.revision:
                st["revision"].update(applied=desired.revision, applied_at=now())
            if st["conditions"]["Stalled"]["reason"] not in ("FetchFailed", "NotStalled"):   # a pass went through
                self._set_condition(st, "Stalled", "False", "NotStalled")
            self._ready(st, rep)
        self._events(desired, rep, prev_applied)
        if rep.applied or (not rep.skipped and not rep.ok):
            self.log(f"{(desired.revision or '')[:12]}: {rep.summary()}")

    def _ready(self, st: dict, rep: ReconcileReport) -> None:
        if rep.error:
            self._set_condition(st, "Ready", "False", "HostUnavailable", rep.error)
        elif not rep.ok:
            bad = [k for k, n in rep.next.items() if n != "done" and k not in rep.invalid]
            self._set_condition(st, "Ready", "False", "ModulesNotReady", f"{len(bad)} not ready: {', '.join(bad[:10])}")
        else:
            self._set_condition(st, "Ready", "True", "Applied", f"host serves {(rep.plan.revision or '')[:12]}")

    def _events(self, desired: DesiredState, rep: ReconcileReport, prev_applied: str | None) -> None:
        """Drift is the host moving away from an applied commit (or, in report mode, any difference);
        a new commit being rolled out is not drift. Events go out only on change."""
        if rep.skipped:
            return
        healed = {a.key for a in rep.applied}
        drift = [{"module": d.key, "field": d.field, "host": _fmt(d.field, d.live), "git": _fmt(d.field, d.git),
                  "healed": d.key in healed} for d in rep.drift]
        if not (self.cfg.mode == "report" or prev_applied == desired.revision):
            drift = []
        seen = frozenset((d["module"], d["field"], d["host"]) for d in drift)
        new, self._drift_seen = seen - self._drift_seen, seen
        base = {"host": self.cfg.host_url, "selector": str(self.cfg.selector), "revision": desired.revision}
        with self._lock:
            st = self._status
            st["drift"] = drift
            if new:
                st["drift_detected_total"] += len(new)
                st["last_drift"] = {"at": now(), "items": drift}
            applied = st["revision"]["applied"]
        if new:
            self._emit("wasmops.agent.drift", {**base, "mode": self.cfg.mode, "drift": drift})
        if rep.applied or applied != prev_applied:
            self._emit("wasmops.agent.reconciled", {**base, "applied": applied, "ok": rep.ok, "summary": rep.summary(),
                                                    "changed": sorted(healed)})

    def _emit(self, event: str, payload: dict) -> None:
        try:
            self.emit(event, payload)
        except Exception as exc:   # noqa: BLE001 - an event sink must never stop the agent
            self.log(f"could not emit {event}: {exc}")

    # -- the loop --------------------------------------------------------------------------------
    def trigger(self) -> None:
        """Fetch and reconcile now (the webhook)."""
        with self._lock:
            self._status["counters"]["webhooks"] += 1
        self._next_fetch = 0.0
        self.wake.set()

    def run(self) -> None:
        """Pass after pass until :attr:`stop` is set: every ``interval``, sooner when a fetch must be retried."""
        while not self.stop.is_set():
            try:
                self.run_once()
            except Exception as exc:   # noqa: BLE001 - keep serving; say what went wrong
                self._pass_failed(exc)
            wait = max(0.05, min(self.cfg.interval_s, self._next_fetch - time.monotonic()))
            self.wake.wait(wait)
            self.wake.clear()


def _modules(desired: DesiredState, rep: ReconcileReport) -> dict[str, dict]:
    """Per module: the digest Git asks for, the one the host serves (as far as this pass knows), Ready,
    and the canary beside it (``{"digest", "weight"}``, or None). While Git asks for a canary split,
    ``serving`` is the stable digest: the canary (moduleRef) takes only its weight's share."""
    out, applied = {}, {a.key for a in rep.applied}
    for a in rep.plan:
        c = rep.conditions.get(a.key, {})
        ready = c.get("Ready")
        m = desired.deployments.get(a.key) if a.key in desired.deployments else None
        git_digest = m.spec.module_ref.digest if m else None
        live = a.live or {}
        converged = ready is not None and ready.status == "True" and a.kind != "delete"
        if converged:
            serving, canary = a.digest or git_digest, a.canary
        else:
            serving, canary = (None if a.kind == "delete" and a.key in applied else live.get("digest")), live.get("canary")
        out[a.key] = {"git_digest": git_digest, "serving": serving, "action": a.kind,
                      "canary": {"digest": canary["digest"], "weight": canary["weight"]} if canary else None,
                      "ready": ready.status if ready else "Unknown", "reason": ready.reason if ready else "",
                      "next": rep.next.get(a.key, "done"), "message": ready.message if ready else ""}
    return out
