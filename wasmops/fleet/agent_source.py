"""The agent's own clone of the GitOps remote: clone once, fetch on demand, check the tip out.

The working tree follows the fetched tip (detached), so a host started with this clone as its
``<home>/gitops`` reads the same quarantine list, policy and keys the agent applies. The desired
state itself is read from Git objects (:class:`~wasmops.gitops.desired_loader.DesiredLoader`)::

    >>> src = GitSource(Path("/srv/agent/gitops"), remote="https://git.example/desired.git")  # doctest: +SKIP
    >>> src.fetch()          # doctest: +SKIP
    '3f1c…'
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wasmops.errors import ConfigError, TransientError

GIT_TIMEOUT_S = 60.0


def _git(*args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT_S) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    try:
        out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"git {args[0]} timed out after {timeout:g}s") from exc
    if out.returncode != 0:
        raise TransientError(f"git {args[0]} failed: {(out.stderr or out.stdout).strip()[-300:]}")
    return out.stdout.strip()


class GitSource:
    """A clone of ``remote`` at ``path`` following ``branch``; with no remote, ``path`` is read as it is
    (a local GitOps repo: nothing to fetch)."""

    def __init__(self, path: Path, remote: str | None = None, branch: str | None = None):
        self.path, self.remote = Path(path), remote
        self.branch = branch or "main"

    @property
    def ref(self) -> str:
        """What the desired state is read at."""
        return f"refs/remotes/origin/{self.branch}" if self.remote else self.branch

    def ensure(self) -> None:
        """Clone if there is no clone yet; refuse a directory that is a clone of another remote."""
        if not self.remote:
            if not (self.path / ".git").exists() and not (self.path / "HEAD").exists():
                raise ConfigError("no GitOps repo to read and no --remote to clone", where=str(self.path))
            return
        if (self.path / ".git").exists():
            origin = _git("remote", "get-url", "origin", cwd=self.path)
            if origin != self.remote:
                raise ConfigError(f"{self.path} is a clone of {origin}, not {self.remote}",
                                  hint="use another --clone directory, or remove this one")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "-q", "--branch", self.branch, "--", self.remote, str(self.path))

    def fetch(self) -> str:
        """Fetch the branch and check its tip out; returns the tip's commit id."""
        self.ensure()
        if self.remote:
            _git("fetch", "-q", "--prune", "origin",
                 f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}", cwd=self.path)
            _git("-c", "advice.detachedHead=false", "checkout", "-q", "-f", "--detach", self.ref, cwd=self.path)
        return _git("rev-parse", f"{self.ref}^{{commit}}", cwd=self.path)

    def committed_at(self, sha: str) -> str:
        """The commit's time (ISO 8601)."""
        return _git("show", "-s", "--format=%cI", sha, cwd=self.path)
