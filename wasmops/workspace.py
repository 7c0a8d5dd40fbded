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
