"""The live runtime: deployed modules, each with a prepared ``InstancePre``, run on demand.

Prefect-free; the HTTP server (``server.py``) is a thin layer over this class::

    >>> rt = Runtime.open(state_dir, keyring=..., policy=...)        # doctest: +SKIP
    >>> rt.deploy(DeployRequest(namespace="dev", name="greet", ref="oci-layout://...", digest="sha256:..."))  # doctest: +SKIP
    >>> rt.invoke("dev", "greet", b'{"who":"ann"}').stdout          # doctest: +SKIP
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import NotFound, WasmopsError
from .module_locks import one_per_module
from wasmops.supply.policy import ModulePolicy
from wasmops.wasm.sandbox import Prepared, RunLimits, RunResult, Sandbox
from wasmops.supply.signing import Keyring
from .admission import admit
from .canary import CanaryOps
from .api import DeployRequest
from .integrity import LOAD_FAILED, AtRestError, AuthenticatedCache, check_at_rest, host_key
from .metrics import HostMetrics
from .state import Deployment, HostState, Limits
from .wire_errors import ModuleStalled  # noqa: F401  (its HTTP status: wire_errors)

__all__ = ["DeployRequest", "Live", "ModuleStalled", "Runtime", "Stall"]




@dataclass
class Live:
    deployment: Deployment
    prepared: Prepared
    run_limits: RunLimits
    # What every request asks of the deployment, worked out once (a Deployment is not changed in place:
    # a change is a new Deployment and a new Live): its key, metrics labels, argv[0] and digest as bytes.
    key: str = field(init=False)
    labels: tuple = field(init=False)
    program_name: str = field(init=False)
    digest_b: bytes = field(init=False)

    def __post_init__(self) -> None:
        dep = self.deployment
        self.key, self.labels = dep.key, HostMetrics.labels_for(dep)
        self.program_name, self.digest_b = dep.program_name, dep.digest.encode()


@dataclass
class Stall:
    """A deployment the host keeps in its state but does not serve, and why."""

    deployment: Deployment
    reason: str
    message: str
    since: str


#: Precompiled modules kept beyond what serves: a rollback to a recent digest loads without compiling.
SPARE_COMPILED = 8


class Runtime(CanaryOps):
    def __init__(self, state: HostState, sandbox: Sandbox, *, keyring: Keyring,
                 policy: ModulePolicy | Callable[[], ModulePolicy],
                 quarantined: Callable[[str], bool] = lambda d: False, timeout_s: float = 30.0,
                 verify_at_rest: bool = True):
        self.state = state
        self.sandbox = sandbox
        self.keyring = keyring
        # a callable is asked at every admission (``policy.policy_follower``: the policy in Git as it is now)
        self._policy = policy if callable(policy) else (lambda: policy)
        self.quarantined = quarantined
        self.timeout_s = timeout_s
        self.verify_at_rest = verify_at_rest   # False only to measure what the check costs (bench/host_restart.py)
        self.metrics = HostMetrics()
        self.live: dict[str, Live] = {}
        self.stalled: dict[str, Stall] = {}
        self.canaries: dict = {}            # key -> canary.CanarySlot
        self.events: deque[dict] = deque(maxlen=500)
        self._loading = threading.local()   # .dep: the deployment this thread compiles (_compiled_rejected)
        self._deploy_lock = threading.Lock()
        self._module_locks: dict[str, threading.RLock] = {}     # one_per_module
        self._module_locks_guard = threading.Lock()
        self.ready = False

    @classmethod
    def open(cls, state_dir: str | Path, *, cache_dir: str | Path | None = None, pool_slots: int | None = None,
             **kw) -> "Runtime":
        """Open the state dir; precompiled modules are authenticated with the host key (``integrity``).
        ``pool_slots``: wasmtime's pooling allocator for that many concurrent runs (``Sandbox``)."""
        state = HostState.open(state_dir)
        cache = AuthenticatedCache(cache_dir or Path(state_dir) / "compiled", host_key(state_dir))
        rt = cls(state, Sandbox(cache=cache, pool_slots=pool_slots), **kw)
        cache.on_reject = rt._compiled_rejected
        rt.restore()
        return rt

    # -- loading, with the at-rest checks ------------------------------------------------------
    def restore(self) -> None:
        """Bring back every acknowledged deployment from the state dir (no network, no recompile).

        Each blob is checked at rest first; a module that fails is kept as ``Stalled`` and the
        others load."""
        for key, dep in self.state.deployments.items():
            try:
                self.live[key] = self._load(dep, self._stored_wasm(dep))
            except AtRestError as exc:
                self._stall(dep, exc.reason, exc.message)
                continue
            except WasmopsError as exc:
                self._stall(dep, LOAD_FAILED, exc.message)
                continue
            self.metrics.deployed_module(dep, _ts(dep.deployed_at))
        self.restore_canaries()
        self.ready = True

    def _stored_wasm(self, dep: Deployment) -> bytes:
        if not self.verify_at_rest:
            return self.state.blob_path(dep.wasm_digest).read_bytes()
        return check_at_rest(self.state.blob_path(dep.wasm_digest), dep.wasm_digest,
                             self.state.bundle_path(dep.wasm_digest), self.keyring, where=dep.key)

    def _load(self, dep: Deployment, wasm: bytes) -> Live:
        self._loading.dep = dep
        try:
            prepared = self.sandbox.load(wasm, dep.wasm_digest, where=dep.key)
        finally:
            self._loading.dep = None
        lim = dep.limits
        return Live(dep, prepared, RunLimits(fuel=lim.fuel, memory=lim.memory, timeout_ms=lim.timeout_ms,
                                             ok_exits=tuple(dep.success_exit_codes),
                                             max_stdout=lim.max_stdout))

    def _stall(self, dep: Deployment, reason: str, message: str) -> None:
        self.stalled[dep.key] = Stall(dep, reason, message, _now())
        self.metrics.integrity_failures.labels(dep.namespace, dep.name, reason).inc()
        self._event(dep.key, reason, message, action="stalled: not served until deployed again")

    def _compiled_rejected(self, digest: str, why: str) -> None:
        dep = getattr(self._loading, "dep", None)
        ns, name = (dep.namespace, dep.name) if dep else ("", "")
        self.metrics.integrity_failures.labels(ns, name, "CompiledModuleRejected").inc()
        self._event(dep.key if dep else digest, "CompiledModuleRejected", why,
                    action="discarded; compiled again from the verified blob")

    def _event(self, key: str, reason: str, message: str, *, action: str) -> None:
        ev = {"time": _now(), "module": key, "reason": reason, "message": message, "action": action}
        self.events.append(ev)
        print(f"wasmops host: {key}: {reason}: {message} ({action})", file=sys.stderr, flush=True)

    # -- admin ---------------------------------------------------------------------------------
    @one_per_module
    def deploy(self, req: DeployRequest) -> tuple[Deployment, bool]:
        """Admit and switch to ``req``. Returns (deployment, changed). The old version serves until the switch.

        A stalled module is admitted again in full (a fresh pull): that is how it is repaired."""
        key = f"{req.namespace}/{req.name}"
        limits = req.host_limits()
        current = self.live.get(key)
        if current and current.deployment.digest == req.digest and _same(current.deployment, req, limits):
            return current.deployment, False
        dep, adm = self._admit(req)
        live = self._load(dep, adm.wasm)      # compiled outside the lock: other modules' changes go on meanwhile
        with self._deploy_lock:
            self._store(dep, adm)
            self.state.set(dep)               # acknowledged only once this is on disk
            old = self.live.get(key)
            self.live[key] = live
            self.stalled.pop(key, None)
            if old:
                self.metrics.undeployed(old.deployment)
            self.metrics.deployed_module(dep, time.time())
            slot = self.canaries.get(key)
            if slot is not None and slot.live.deployment.digest == dep.digest:
                self.canaries.pop(key, None)                 # the canary's digest is stable now
                self.state.remove_canary(key)
        self.metrics.admissions.labels(req.namespace, req.name, "admitted").inc()
        return dep, True

    def _admit(self, req: DeployRequest):
        """Full admission (quarantine, pull by digest, signature, policy): (deployment, admitted)."""
        limits = req.host_limits()
        try:
            adm = admit(req.ref, req.digest, trust_level=req.trust_level, memory_limit=limits.memory,
                        run_timeout_ms=limits.timeout_ms, fuel=limits.fuel, max_stdout=limits.max_stdout,
                        keyring=self.keyring, policy=self._policy(), quarantined=self.quarantined,
                        timeout_s=self.timeout_s)
        except Exception:
            self.metrics.admissions.labels(req.namespace, req.name, "refused").inc()
            raise
        dep = Deployment(namespace=req.namespace, name=req.name, ref=req.ref, digest=req.digest,
                         wasm_digest=adm.wasm_digest, trust_level=req.trust_level, limits=limits, env=req.env,
                         labels=req.labels, replicas=req.replicas, signature=adm.signature,
                         success_exit_codes=req.success_exit_codes, args=req.args,
                         scratch=req.scratch)
        return dep, adm

    def _store(self, dep: Deployment, adm) -> None:
        """Keep the verified blob and bundle (under the deploy lock: ``prune_store`` deletes blobs the
        state does not name, and this one is named only once the state is written)."""
        self.state.put_blob(adm.wasm_digest, adm.wasm)
        self.state.put_bundle(adm.wasm_digest, adm.bundle)

    def prune_store(self) -> int:
        """Delete stored blobs and precompiled modules of digests no deployment or canary names
        (keeping ``SPARE_COMPILED`` recent precompiled ones). Only the process that owns the state
        calls this, and with several workers only once every worker serves the current state."""
        with self._deploy_lock:
            n = self.state.prune_blobs()
            cache = self.sandbox.cache
            if cache is not None and hasattr(cache, "prune"):
                n += cache.prune(self.state.referenced(), SPARE_COMPILED)
        return n

    @one_per_module
    def undeploy(self, namespace: str, name: str) -> bool:
        key = f"{namespace}/{name}"
        with self._deploy_lock:
            canary = self.canaries.pop(key, None)
            old = self.live.pop(key, None)
            stalled = self.stalled.pop(key, None)
            removed = self.state.remove(key)
            for gone in (old, canary and canary.live):
                if gone:
                    self.metrics.undeployed(gone.deployment)
        return removed or old is not None or stalled is not None

    def get(self, namespace: str, name: str) -> Live:
        key = f"{namespace}/{name}"
        live = self.live.get(key)
        if live is None:
            stall = self.stalled.get(key)
            if stall is not None:
                raise ModuleStalled(f"module is stalled ({stall.reason}): {stall.message}", where=key,
                                    hint="deploy it again (reconcile): the host pulls and verifies a fresh copy")
            raise NotFound(f"no module {namespace}/{name} is deployed", where=key)
        return live

    def invoke(self, namespace: str, name: str, body: bytes) -> tuple[Deployment, RunResult]:
        return self.invoke_live(self.get(namespace, name), body)

    def invoke_live(self, live: Live, body: bytes, slice_ms: int | None = None,
                    expect: bytes | None = None, probe: bool = False) -> tuple[Deployment, RunResult]:
        """Run ``live`` once and bill it; ``sandbox.Preempted`` (nothing billed) if it outgrew ``slice_ms``.
        ``expect``: the request's ``X-Wasmops-Expect`` (a failure it names is not counted as an error).
        ``probe``: a release probe, counted apart and not billed to the module's team (``metrics.py``)."""
        dep = live.deployment
        result = self.sandbox.run(live.prepared, stdin=body, env=dep.env, args=dep.args, limits=live.run_limits,
                                  program_name=live.program_name, slice_ms=slice_ms, scratch=dep.scratch)
        self.metrics.observe(dep, result, expect, probe, live.labels)
        return dep, result

    def describe(self, namespace: str, name: str) -> dict:
        """One module as ``GET /admin/modules`` lists it (``health``, ``health_reason``, ``health_message``)."""
        key = f"{namespace}/{name}"
        if key in self.stalled:
            return _stalled_view(self.stalled[key])
        return self._view(key, self.get(namespace, name).deployment)

    def _view(self, key: str, dep: Deployment) -> dict:
        view = _live_view(dep)
        canary = self.canary_view(key)
        if canary is not None:
            view["canary"] = canary
        return view

    def modules(self) -> list[dict]:
        out = {k: self._view(k, live.deployment) for k, live in self.live.items()}
        out.update({k: _stalled_view(st) for k, st in self.stalled.items()})
        return [out[k] for k in sorted(out)]

    def close(self) -> None:
        self.sandbox.close()


#: Fields ``GET /admin/modules`` shows only when set: a manifest without them, and hosts from before them, compare equal.
_OMIT_EMPTY = ("success_exit_codes", "args", "scratch")


def _dump(dep: Deployment) -> dict:
    """A deployment as ``GET /admin/modules`` shows it (``_OMIT_EMPTY`` left out when empty)."""
    return dep.model_dump(exclude={f for f in _OMIT_EMPTY if not getattr(dep, f)})


def _live_view(dep: Deployment) -> dict:
    return {**_dump(dep), "health": "Healthy", "health_reason": "Loaded", "health_message": ""}


def _stalled_view(st: Stall) -> dict:
    return {**_dump(st.deployment), "health": "Stalled", "health_reason": st.reason,
            "health_message": st.message, "stalled_since": st.since}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _same(dep: Deployment, req: DeployRequest, limits: Limits) -> bool:
    return (dep.limits == limits and dep.env == req.env and dep.labels == req.labels
            and dep.trust_level == req.trust_level and dep.replicas == req.replicas
            and dep.success_exit_codes == req.success_exit_codes and dep.args == req.args
            and dep.scratch == req.scratch)


def _ts(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()
