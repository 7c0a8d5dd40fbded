"""Create the workspace's GitOps repo: from the seed (``deployments/``) or a clone of the remote."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from wasmops.config import Settings
from wasmops.errors import SpecError, TransientError
from wasmops.gitops.repo import AUTHOR, GitOpsRepo, _git
from wasmops.gitops.seed import seed_dir


def init_repo(s: Settings, *, progress: Callable[[str], None] | None = None) -> Path:
    """Create ``<home>/gitops`` from the seed (or clone the remote), and trust the workspace key."""
    git = _git()
    say = progress or (lambda _m: None)
    path = s.gitops_dir
    if not (path / ".git").exists():
        if s.gitops_remote:
            say(f"cloning desired state from {s.gitops_remote}")
            try:
                git.Repo.clone_from(s.gitops_remote, path)
            except git.GitCommandError as exc:
                raise TransientError(f"git clone failed: {exc.stderr.strip()[:300]}", where=s.gitops_remote) from exc
        else:
            shutil.copytree(seed_dir(), path, dirs_exist_ok=True)
            repo = git.Repo.init(path, initial_branch="main")
            with repo.config_writer() as cw:
                cw.set_value("user", "name", AUTHOR[0])
                cw.set_value("user", "email", AUTHOR[1])
            repo.git.add("-A")
            actor = git.Actor(*AUTHOR)
            repo.index.commit("wasmops init: seed desired state from deployments/", author=actor, committer=actor)
            say(f"GitOps repo created at {path}")
    repo = GitOpsRepo.from_settings(s)
    keys = path / "keys"
    keys.mkdir(exist_ok=True)
    dest = keys / "workspace.pub"
    if s.public_key.exists() and (not dest.exists() or dest.read_bytes() != s.public_key.read_bytes()):
        with repo.locked():
            repo.pull()
            shutil.copyfile(s.public_key, dest)
            repo._commit([dest], "trust the workspace signing key\n\nWasmops-Actor: wasmops init\n")
    if not os.access(path, os.W_OK):
        raise SpecError("GitOps repo is not writable", where=str(path))
    return path
