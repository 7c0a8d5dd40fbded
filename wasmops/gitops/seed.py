"""Where the sample desired state lives: ``deployments/`` in a checkout, else the packaged copy.

Below both :mod:`wasmops.gitops.repo` (which seeds a new repo from it) and :mod:`wasmops.workspace`
(which creates the repo through gitops and falls back to the seed's module policy)::

    >>> from wasmops.gitops.seed import seed_dir
    >>> (seed_dir() / "modules").is_dir()
    True
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # the wasmops package


def seed_dir() -> Path:
    """The sample desired state: the repo's ``deployments/`` in a checkout, else the packaged copy."""
    for cand in (_PKG.parent / "deployments", _PKG / "_seed" / "deployments"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError("deployments/ seed not found in the checkout or the package")
