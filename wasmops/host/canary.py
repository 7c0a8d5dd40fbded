"""A canary beside the stable digest of a module: admission, the weighted split, pinning, promote, abort.

The canary goes through the same admission as any deploy (digest, signature, policy, quarantine);
one that fails is refused and the stable digest keeps serving alone. Traffic is split by a counter,
not at random: of any 100 consecutive unpinned requests exactly ``weight`` go to the canary (request
n goes to the canary when ``(37·n mod 100) < w``: a permutation of each 100, so the count is exact).
The permutation keeps periodic traffic from aliasing with the split: with the old rule (every
``100/w``-th request) a load that repeats every 2, 4 or 10 requests sent all of one request kind to
the canary at 50 % (a health check, a load loop), and the canary's live errors were misjudged; now
each kind gets within 9 points of ``w`` for periods up to 12 (``tests/host/test_canary_split.py``). A request with
``X-Wasmops-Pin-Digest: sha256:...`` runs that digest (stable or canary) whatever the weight; an
unknown digest is 404. The canary and its weight are in the host state, so a restart resumes both.
Abort drops the canary from routing first (the next request is stable), then from the state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..errors import NotFound, UserError
from .module_locks import one_per_module
from .state import CanaryRecord

__all__ = ["CanaryOps", "CanarySlot", "PinNotServed"]


class PinNotServed(NotFound):
    """``X-Wasmops-Pin-Digest`` names a digest this module does not serve (404)."""


@dataclass
class CanarySlot:
    live: object            # runtime.Live
    weight: int
    n: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    shared: tuple | None = None     # (counters.SharedCounters, slot): one sequence across worker processes

    def take(self) -> bool:
        """Whether the next unpinned request goes to the canary."""
        w = self.weight
        with self.lock:
            if self.shared is not None:
                counters, slot = self.shared
                n = counters.take(slot)
            else:
                n, self.n = self.n, self.n + 1
        return (SPREAD * (n % 100)) % 100 < w


#: Multiplier of the split's permutation of 0..99 (coprime with 100).
SPREAD = 37


class CanaryOps:
    """Mixed into ``Runtime``: needs ``live``, ``state``, ``metrics``, ``_deploy_lock``, ``_admit``, ``_load``."""

    canaries: dict[str, CanarySlot]

    def pick(self, namespace: str, name: str, pin: str | None = None, probe: bool = False):
        """The ``Live`` that serves this request: pinned, else by the canary's weight. An unpinned
        probe gets the stable digest and leaves the split's counter alone: the weight is a share of
        the module's own traffic (docs/spec/host-api.md)."""
        live = self.get(namespace, name)
        slot = self.canaries.get(live.key)
        if pin:
            if pin == live.deployment.digest:
                return live
            if slot is not None and pin == slot.live.deployment.digest:
                return slot.live
            can = slot.live.deployment.digest if slot else "none"
            raise PinNotServed(f"digest {pin} is not served by {live.deployment.key} (stable "
                               f"{live.deployment.digest}, canary {can})", where=live.deployment.key)
        if slot is not None and not probe and slot.take():
            return slot.live
        return live

    @one_per_module
    def deploy_canary(self, req, weight: int):
        """Admit ``req`` as the canary of its module at ``weight``; returns (deployment, changed)."""
        key = f"{req.namespace}/{req.name}"
        stable = self.get(req.namespace, req.name)
        if req.digest == stable.deployment.digest:
            raise UserError(f"digest {req.digest} is already the stable digest of {key}", where=key)
        slot = self.canaries.get(key)
        if slot is not None and slot.live.deployment.digest == req.digest:
            return self.set_canary_weight(req.namespace, req.name, weight), False
        dep, adm = self._admit(req)
        live = self._load(dep, adm.wasm)      # compiled outside the lock (runtime.deploy)
        with self._deploy_lock:
            self._store(dep, adm)
            self.state.set_canary(CanaryRecord(deployment=dep, weight=weight))
            old = self.canaries.get(key)
            self.canaries[key] = CanarySlot(live, weight)
            if old:
                self.metrics.undeployed(old.live.deployment)
        self.metrics.deployed_module(dep, _now_ts())
        self.metrics.admissions.labels(req.namespace, req.name, "admitted").inc()
        return dep, True

    @one_per_module
    def set_canary_weight(self, namespace: str, name: str, weight: int):
        key = f"{namespace}/{name}"
        slot = self._slot(key)
        with self._deploy_lock:
            self.state.set_canary(CanaryRecord(deployment=slot.live.deployment, weight=weight))
            slot.weight = weight
        return slot.live.deployment

    @one_per_module
    def abort_canary(self, namespace: str, name: str) -> bool:
        """100 % stable at once: routing first, then the state."""
        key = f"{namespace}/{name}"
        slot = self.canaries.pop(key, None)
        with self._deploy_lock:
            removed = self.state.remove_canary(key)
        if slot is not None:
            self.metrics.undeployed(slot.live.deployment)
        return removed or slot is not None

    @one_per_module
    def promote_canary(self, namespace: str, name: str):
        """The canary becomes stable (no new admission: it was admitted as the canary)."""
        key = f"{namespace}/{name}"
        slot = self._slot(key)
        with self._deploy_lock:
            dep = self.state.promote_canary(key)
            old = self.live.get(key)
            self.live[key] = slot.live
            self.canaries.pop(key, None)
            if old:
                self.metrics.undeployed(old.deployment)
        return dep

    def _slot(self, key: str) -> CanarySlot:
        slot = self.canaries.get(key)
        if slot is None:
            raise NotFound(f"{key} has no canary", where=key)
        return slot

    def restore_canaries(self) -> None:
        """Bring back each recorded canary at its weight (after the stable modules); one that fails
        its at-rest check is dropped from the state: the stable digest serves alone."""
        for key, rec in list(self.state.canaries.items()):
            if key not in self.live:
                continue
            try:
                live = self._load(rec.deployment, self._stored_wasm(rec.deployment))
            except Exception as exc:   # noqa: BLE001 - the at-rest or load failure refuses the canary only
                self.state.remove_canary(key)
                self._event(key, "CanaryDropped", str(exc), action="canary not served; stable serves alone")
                continue
            self.canaries[key] = CanarySlot(live, rec.weight)
            self.metrics.deployed_module(rec.deployment, _now_ts())

    def canary_view(self, key: str) -> dict | None:
        slot = self.canaries.get(key)
        if slot is None:
            return None
        d = slot.live.deployment
        return {"digest": d.digest, "wasm_digest": d.wasm_digest, "ref": d.ref, "weight": slot.weight,
                "deployed_at": d.deployed_at, "limits": d.limits.model_dump()}


def _now_ts() -> float:
    import time

    return time.time()
