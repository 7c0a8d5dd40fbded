"""The live runtime: deployed modules, each with a prepared ``InstancePre``, run on demand.

Prefect-free; the HTTP server (``server.py``) is a thin layer over this class::

    >>> rt = Runtime.open(state_dir, keyring=..., policy=...)        # doctest: +SKIP
    >>> rt.deploy(DeployRequest(namespace="dev", name="greet", ref="oci-layout://...", digest="sha256:..."))  # doctest: +SKIP
    >>> rt.invoke("dev", "greet", b'{"who":"ann"}').stdout          # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field, field_validator

from ..errors import NotFound
from ..policy import ModulePolicy
from ..sandbox import Prepared, RunLimits, RunResult, Sandbox
from ..signing import Keyring
from ..units import parse_size
from .admission import admit
from .metrics import HostMetrics
from .state import Deployment, HostState, Limits


class DeployRequest(BaseModel):
    """Body of ``PUT /admin/modules/{ns}/{name}``."""

    namespace: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    ref: str
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    trust_level: str = "sandboxed"
    limits: dict = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    replicas: int = Field(1, ge=0)

    @field_validator("limits")
    @classmethod
    def _limits(cls, v: dict) -> dict:
        out = dict(v)
        for k in ("memory", "max_stdout"):
            if k in out:
                out[k] = parse_size(out[k])
        Limits.model_validate(out)
        return out


@dataclass
class Live:
    deployment: Deployment
    prepared: Prepared
    run_limits: RunLimits


class Runtime:
    def __init__(self, state: HostState, sandbox: Sandbox, *, keyring: Keyring,
                 policy: ModulePolicy | Callable[[], ModulePolicy],
                 quarantined: Callable[[str], bool] = lambda d: False, timeout_s: float = 30.0):
        self.state = state
        self.sandbox = sandbox
        self.keyring = keyring
        # a callable is asked at every admission (``policy.policy_follower``: the policy in Git as it is now)
        self._policy = policy if callable(policy) else (lambda: policy)
        self.quarantined = quarantined
        self.timeout_s = timeout_s
        self.metrics = HostMetrics()
        self.live: dict[str, Live] = {}
        self._deploy_lock = threading.Lock()
        self.ready = False

    @classmethod
    def open(cls, state_dir: str | Path, *, cache_dir: str | Path | None = None, **kw) -> "Runtime":
        state = HostState.open(state_dir)
        sb = Sandbox(cache_dir=cache_dir or Path(state_dir) / "compiled")
        rt = cls(state, sb, **kw)
        rt.restore()
        return rt

    def restore(self) -> None:
        """Bring back every acknowledged deployment from the state dir (no network, no recompile)."""
        for key, dep in self.state.deployments.items():
            wasm = self.state.blob_path(dep.wasm_digest).read_bytes()
            self.live[key] = self._load(dep, wasm)
            self.metrics.deployed_module(dep, _ts(dep.deployed_at))
        self.ready = True

    def _load(self, dep: Deployment, wasm: bytes) -> Live:
        prepared = self.sandbox.load(wasm, dep.wasm_digest, where=dep.key)
        lim = dep.limits
        return Live(dep, prepared, RunLimits(fuel=lim.fuel, memory=lim.memory, timeout_ms=lim.timeout_ms,
                                             max_stdout=lim.max_stdout))

    def deploy(self, req: DeployRequest) -> tuple[Deployment, bool]:
        """Admit and switch to ``req``. Returns (deployment, changed). The old version serves until the switch."""
        key = f"{req.namespace}/{req.name}"
        limits = Limits.model_validate(req.limits)
        current = self.live.get(key)
        if current and current.deployment.digest == req.digest and _same(current.deployment, req, limits):
            return current.deployment, False
        try:
            adm = admit(req.ref, req.digest, trust_level=req.trust_level, memory_limit=limits.memory,
                        keyring=self.keyring, policy=self._policy(), quarantined=self.quarantined,
                        timeout_s=self.timeout_s)
        except Exception:
            self.metrics.admissions.labels(req.namespace, req.name, "refused").inc()
            raise
        dep = Deployment(namespace=req.namespace, name=req.name, ref=req.ref, digest=req.digest,
                         wasm_digest=adm.wasm_digest, trust_level=req.trust_level, limits=limits, env=req.env,
                         labels=req.labels, replicas=req.replicas, signature=adm.signature)
        with self._deploy_lock:
            self.state.put_blob(adm.wasm_digest, adm.wasm)
            live = self._load(dep, adm.wasm)
            self.state.set(dep)               # acknowledged only once this is on disk
            old = self.live.get(key)
            self.live[key] = live
            if old:
                self.metrics.undeployed(old.deployment)
            self.metrics.deployed_module(dep, time.time())
        self.metrics.admissions.labels(req.namespace, req.name, "admitted").inc()
        return dep, True

    def undeploy(self, namespace: str, name: str) -> bool:
        key = f"{namespace}/{name}"
        with self._deploy_lock:
            old = self.live.pop(key, None)
            removed = self.state.remove(key)
            if old:
                self.metrics.undeployed(old.deployment)
        return removed or old is not None

    def get(self, namespace: str, name: str) -> Live:
        live = self.live.get(f"{namespace}/{name}")
        if live is None:
            raise NotFound(f"no module {namespace}/{name} is deployed", where=f"{namespace}/{name}")
        return live

    def invoke(self, namespace: str, name: str, body: bytes) -> tuple[Deployment, RunResult]:
        live = self.get(namespace, name)
        dep = live.deployment
        result = self.sandbox.run(live.prepared, stdin=body, env=dep.env, limits=live.run_limits, program_name=name)
        self.metrics.observe(dep, result)
        return dep, result

    def modules(self) -> list[dict]:
        return [live.deployment.model_dump() for _, live in sorted(self.live.items())]

    def close(self) -> None:
        self.sandbox.close()


def _same(dep: Deployment, req: DeployRequest, limits: Limits) -> bool:
    return (dep.limits == limits and dep.env == req.env and dep.labels == req.labels
            and dep.trust_level == req.trust_level and dep.replicas == req.replicas)


def _ts(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()
