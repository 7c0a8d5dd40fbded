"""The host's persistent live state: one JSON document plus the verified wasm blobs.

A deployment is acknowledged only after ``save()`` has fsynced the new state, so a restart comes
back serving exactly what was acknowledged::

    >>> from wasmops.host.state import HostState, Deployment        # doctest: +SKIP
    >>> st = HostState.open("/tmp/host-state")                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import SpecError
from ..wasm.scratch import Scratch
from ..fsutil import atomic_write

#: The manifest label that names the module (its module.yaml ``name``): the run's argv[0].
MODULE_LABEL = "wasmops.dev/module"


class Limits(BaseModel):
    fuel: int = Field(50_000_000, gt=0)
    memory: int = Field(16 * 2**20, gt=0)
    timeout_ms: int = Field(2000, gt=0)
    max_stdout: int = Field(2**20, gt=0)


class Deployment(BaseModel):
    """One live module on the host."""

    namespace: str
    name: str
    ref: str
    digest: str                       # the OCI manifest digest that was admitted
    wasm_digest: str                  # sha256 of the wasm layer
    trust_level: str = "sandboxed"
    limits: Limits = Field(default_factory=Limits)
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    replicas: int = 1
    success_exit_codes: list[int] = Field(default_factory=list)   # besides 0 (sandbox.RunLimits.ok_exits)
    args: list[str] = Field(default_factory=list)                 # argv after program_name, every run
    scratch: Scratch | None = None                                # a directory per run (wasmops.wasm.scratch)
    deployed_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    signature: dict = Field(default_factory=dict)
    health: str = "Healthy"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def program_name(self) -> str:
        """The module's argv[0]: its module.yaml name (label ``wasmops.dev/module``, written by
        ``wasmops add``), as in ``wasmops test``; without the label, the deployment's name."""
        return self.labels.get(MODULE_LABEL) or self.name


class CanaryRecord(BaseModel):
    """A second admitted digest of a module, served at ``weight`` percent beside the stable one."""

    deployment: Deployment
    weight: int = Field(ge=0, le=100)


class HostState:
    """Deployments keyed by ``ns/name``; blobs by wasm digest. Writes are atomic and fsynced."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs"
        self.file = root / "state.json"
        self._lock = threading.Lock()
        self.deployments: dict[str, Deployment] = {}
        self.canaries: dict[str, CanaryRecord] = {}

    @classmethod
    def open(cls, root: str | Path) -> "HostState":
        st = cls(Path(root))
        st.blobs.mkdir(parents=True, exist_ok=True)
        if st.file.exists():
            try:
                data = json.loads(st.file.read_text())
                st.deployments = {k: Deployment.model_validate(v) for k, v in data.get("deployments", {}).items()}
                st.canaries = {k: CanaryRecord.model_validate(v) for k, v in data.get("canaries", {}).items()
                               if k in st.deployments}
            except (ValueError, TypeError) as exc:
                raise SpecError(f"host state is unreadable: {exc}", where=str(st.file)) from exc
        return st

    def blob_path(self, wasm_digest: str) -> Path:
        return self.blobs / (wasm_digest.split(":", 1)[-1] + ".wasm")

    def bundle_path(self, wasm_digest: str) -> Path:
        return self.blobs / (wasm_digest.split(":", 1)[-1] + ".sigstore.json")

    def put_blob(self, wasm_digest: str, data: bytes) -> Path:
        """Store the verified blob; a file already there is kept only if it is byte-identical
        (a tampered blob is replaced by the freshly pulled one)."""
        p = self.blob_path(wasm_digest)
        if not _same_bytes(p, data):
            atomic_write(p, data, mode=0o644)
        return p

    def put_bundle(self, wasm_digest: str, bundle: bytes | None) -> None:
        """Keep the Sigstore bundle beside the blob, re-verified at every restart."""
        if bundle is not None and not _same_bytes(self.bundle_path(wasm_digest), bundle):
            atomic_write(self.bundle_path(wasm_digest), bundle, mode=0o644)

    def referenced(self) -> set[str]:
        """The wasm digests the state names (stable and canary, stalled ones too)."""
        deps = [*self.deployments.values(), *(c.deployment for c in self.canaries.values())]
        return {d.wasm_digest for d in deps}

    def prune_blobs(self) -> int:
        """Delete the blobs and bundles of digests the state no longer names: a deploy always pulls
        and verifies afresh (a rollback too), and a restart reads only what the state names."""
        wanted = {d.split(":", 1)[-1] for d in self.referenced()}
        gone = [f for f in self.blobs.iterdir()
                if f.name.endswith((".wasm", ".sigstore.json")) and f.name.split(".", 1)[0] not in wanted]
        for f in gone:
            f.unlink(missing_ok=True)
        return len(gone)

    def set(self, dep: Deployment) -> None:
        with self._lock:
            self._save({**self.deployments, dep.key: dep}, self.canaries)

    def remove(self, key: str) -> bool:
        """Remove a module (and its canary)."""
        with self._lock:
            if key not in self.deployments:
                return False
            self._save({k: v for k, v in self.deployments.items() if k != key},
                       {k: v for k, v in self.canaries.items() if k != key})
            return True

    def set_canary(self, rec: CanaryRecord) -> None:
        with self._lock:
            self._save(self.deployments, {**self.canaries, rec.deployment.key: rec})

    def remove_canary(self, key: str) -> bool:
        with self._lock:
            if key not in self.canaries:
                return False
            self._save(self.deployments, {k: v for k, v in self.canaries.items() if k != key})
            return True

    def promote_canary(self, key: str) -> Deployment:
        """The canary becomes the stable deployment, in one write."""
        with self._lock:
            dep = self.canaries[key].deployment
            self._save({**self.deployments, key: dep}, {k: v for k, v in self.canaries.items() if k != key})
            return dep

    def _save(self, deployments: dict[str, Deployment], canaries: dict[str, CanaryRecord]) -> None:
        doc = {"version": 1, "deployments": {k: v.model_dump() for k, v in sorted(deployments.items())}}
        if canaries:
            doc["canaries"] = {k: v.model_dump() for k, v in sorted(canaries.items())}
        atomic_write(self.file, json.dumps(doc, indent=1).encode(), sync_dir=True)
        self.deployments, self.canaries = deployments, canaries


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False
