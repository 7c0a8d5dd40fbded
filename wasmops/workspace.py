"""The workspace: ``./.wasmops`` or ``$WASMOPS_HOME``.

``init_workspace`` lays it out: an OCI image layout, a signing key pair, the trusted keyring, and
(once the GitOps repo exists) the desired-state repository seeded from ``deployments/``::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.config import Settings
    >>> from wasmops.workspace import init_workspace
    >>> home = Path(tempfile.mkdtemp())
    >>> info = init_workspace(Settings(home=home))
    >>> sorted(info)
    ['gitops repo', 'oci layout', 'signing key', 'trusted keys']
    >>> sorted(p.name for p in home.iterdir())
    ['gitops', 'keys', 'oci', 'trusted-keys']
    >>> info == init_workspace(Settings(home=home))     # idempotent: the key is kept unless force=True
    True
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from .config import Settings
from wasmops.gitops.repo_init import init_repo
from wasmops.gitops.seed import seed_dir

_PKG = Path(__file__).resolve().parent


def policy_path(s: Settings) -> Path:
    """The ModulePolicy in force: the GitOps repo's copy, else the seed's, else the packaged default."""
    for cand in (s.paths.module_policy,
                 seed_dir() / "policies" / "module-policy.yaml"):
        if cand.exists():
            return cand
    return _PKG / "defaults" / "module-policy.yaml"


def exists(s: Settings) -> bool:
    """Whether ``s.home`` is a workspace: `wasmops init` (or `wasmops up`) made its GitOps repo there."""
    return s.paths.gitops.is_dir()


def require(s: Settings) -> Settings:
    """``s`` when its workspace exists, else a one-line ``ConfigError`` (nothing created): a command
    that reads a workspace must not answer "no services running" or "no pending approvals" about
    an empty directory while the real workspace is elsewhere."""
    if exists(s):
        return s
    from .errors import ConfigError

    raise ConfigError(_missing(s.home, given="home" in s.model_fields_set))


def _missing(home: Path, *, given: bool) -> str:
    """``given``: WASMOPS_HOME (or the caller) named ``home``; else it is ./.wasmops by default."""
    if given:
        return (f"no workspace at {home} (WASMOPS_HOME): set WASMOPS_HOME to a workspace, "
                "or `wasmops init` makes one there")
    found = nearest(home.parent)
    there = f"; the nearest is {found}: run from {found.parent} or set WASMOPS_HOME={found}" if found else ""
    return (f"no workspace at {home} (the workspace is ./.wasmops unless WASMOPS_HOME says){there}; "
            "`wasmops init` makes one here")


def nearest(start: Path) -> Path | None:
    """The workspace (``.wasmops`` with a GitOps repo) in the closest directory above ``start``."""
    return next((d / ".wasmops" for d in Path(start).resolve().parents if (d / ".wasmops" / "gitops").is_dir()), None)


def init_workspace(s: Settings, *, force: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Create (or complete) the workspace. Idempotent: an existing key is kept unless ``force``."""
    from wasmops.supply.signing import generate_keypair, key_id

    say = progress or (lambda _m: None)
    s.home.mkdir(parents=True, exist_ok=True)
    from wasmops.supply.oci.layout import init_layout

    init_layout(s.oci_layout)
    say(f"OCI layout at {s.oci_layout}")
    s.keys_dir.mkdir(parents=True, exist_ok=True)
    if force or not s.private_key.exists():
        kid = generate_keypair(s.private_key, s.public_key, overwrite=True)
        say(f"new signing key {kid}")
    else:
        kid = key_id(s.public_key.read_bytes())
    trusted = s.paths.local_trusted_keys
    trusted.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(s.public_key, trusted / "workspace.pub")
    info = {"oci layout": str(s.oci_layout), "signing key": f"{s.private_key} ({kid})",
            "trusted keys": str(trusted)}
    repo = init_repo(s, progress=say)
    info["gitops repo"] = str(repo)
    return info
