"""The desired state read from the GitOps repo (at the working tree or at a commit).

    >>> from wasmops.desired import load_desired_state
    >>> ds = load_desired_state("deployments")                 # doctest: +SKIP
    >>> sorted(ds.deployments)                                 # doctest: +SKIP
    ['dev/greet-c', 'dev/sum-wat', 'dev/upper-zig', 'prod/greet-c']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import SpecError
from .manifest import Budget, PriceSheet, WasmModuleDeployment, load_document
from .quarantine import FILE as QUARANTINE_FILE, load as load_quarantine


@dataclass
class DesiredState:
    revision: str | None
    deployments: dict[str, WasmModuleDeployment] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)        # key -> path relative to the repo
    quarantine: set[str] = field(default_factory=set)
    budgets: list[Budget] = field(default_factory=list)
    pricing: PriceSheet | None = None


def artifact_ref(repository: str, tag: str, registry: str, digest: str | None = None) -> str:
    """Resolve a moduleRef to an OCI reference.

    ``repository`` is either a full base (``oci://host/ns/mod``, ``oci-layout://path``) or a bare
    name resolved against ``registry``. An image layout holds one repository, so the name is
    folded into the tag: ``oci-layout://PATH:wasmops-greet-c-TAG``.
    """
    if "://" in repository:
        base, t = repository, tag
    elif registry.startswith("oci-layout://"):
        base, t = registry, f"{repository.replace('/', '-')}-{tag}"
    else:
        base, t = f"{registry.rstrip('/')}/{repository}", tag
    ref = f"{base}:{t}"
    return f"{ref}@{digest}" if digest else ref


def load_desired_state(root: str | Path, *, revision: str | None = None) -> DesiredState:
    """Read every document under ``root`` (a checkout). Errors name the file and the field."""
    root = Path(root)
    ds = DesiredState(revision=revision)
    for p in sorted((root / "modules").rglob("*.yaml")):
        m = load_document(p, WasmModuleDeployment)
        rel = str(p.relative_to(root))
        if m.key in ds.deployments:
            raise SpecError(f"metadata: {m.key} is also defined in {ds.files[m.key]}", where=str(p))
        ds.deployments[m.key] = m
        ds.files[m.key] = rel
    for p in sorted((root / "budgets").glob("*.yaml")):
        ds.budgets.append(load_document(p, Budget))
    if (root / "pricing.yaml").exists():
        ds.pricing = load_document(root / "pricing.yaml", PriceSheet)
    ds.quarantine = {e["digest"] for e in load_quarantine(root / QUARANTINE_FILE)}
    return ds


def load_desired_state_at(repo_dir: str | Path, revision: str) -> DesiredState:
    """The desired state at a commit, read from Git objects (the working tree is untouched)."""
    import tempfile

    import git

    repo = git.Repo(repo_dir)
    commit = repo.commit(revision)
    with tempfile.TemporaryDirectory(prefix="wasmops-desired-") as td:
        for blob in commit.tree.traverse():
            if blob.type == "blob" and blob.path.endswith(".yaml"):
                out = Path(td) / blob.path
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(blob.data_stream.read())
        ds = load_desired_state(td, revision=commit.hexsha)
    return ds


def dump_yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False)
