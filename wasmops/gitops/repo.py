"""The desired-state Git repository: seed it, commit releases, revert, quarantine, push and pull.

The embedded default is a local repository at ``<home>/gitops`` made from ``deployments/``. With a
remote (``WASMOPS_GITOPS_REMOTE``), every change pulls first and pushes after. Several writers (workers
on other machines, each with its own clone) race on the remote: a push rejected as non-fast-forward
waits a jittered back-off, fetches, rebases its commit onto the remote and pushes again; when the
rebase conflicts (two writers edited one file, e.g. ``quarantine.yaml``) the local commit is dropped
and the change is made again on the remote's tip. Bounded: :data:`PUSH_ATTEMPTS` tries::

    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.gitops.repo import GitOpsRepo; from wasmops.gitops.repo_init import init_repo
    >>> path = init_repo(Settings(home=tempfile.mkdtemp()))    # <home>/gitops, seeded from deployments/
    >>> repo = GitOpsRepo.open(path)
    >>> digest = "sha256:" + "a" * 64
    >>> repo.set_module_ref("dev/greet-c", tag="v1", digest=digest, provenance={"Actor": "ann"})  # doctest: +ELLIPSIS
    CommitResult(sha='...', changed=True)
    >>> repo.set_module_ref("dev/greet-c", tag="v1", digest=digest, provenance={"Actor": "ann"}).changed
    False
    >>> print(repo.repo.head.commit.message)      # doctest: +ELLIPSIS
    release dev/greet-c v1
    <BLANKLINE>
    Set dev/greet-c moduleRef to sha256:aaaa...
    <BLANKLINE>
    Wasmops-Actor: ann
    Wasmops-Digest: sha256:aaaa...
"""

from __future__ import annotations

import fcntl
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from wasmops.gitops import quarantine as q, yamledit
from wasmops.config import Settings
from wasmops.gitops.desired import DesiredState, load_desired_state, load_desired_state_at
from wasmops.gitops.manifest import AWAITING_APPROVAL
from wasmops.digests import short
from wasmops.errors import ConfigError, NotFound, TransientError

AUTHOR = ("wasmops", "wasmops@localhost")
PUSH_ATTEMPTS = 10
# What git says when another writer pushed first (or was updating the ref at the same instant).
_LOST_RACE = ("non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref", "incorrect old value")


def push_backoff(attempt: int) -> float:
    """Seconds to wait before push attempt ``attempt + 1``: 50 ms doubling to at most 2 s, times a
    random factor in [0.5, 1.5) so that writers who lost the same race do not meet again.

    >>> all(0.025 <= push_backoff(i) < 3.0 for i in range(20))
    True
    """
    return min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.5)


@dataclass
class CommitResult:
    sha: str
    changed: bool


def _git():
    import git  # gitpython: imported lazily, it spawns `git` at import

    return git


DEFAULT_BRANCH = "main"


def _default_branch(repo) -> str:
    """``main`` when it exists (what ``wasmops init`` makes; not whatever branch a writer has checked
    out for a moment), else the branch checked out (a clone's default), else HEAD's commit."""
    if DEFAULT_BRANCH in {h.name for h in repo.heads}:
        return DEFAULT_BRANCH
    try:
        return repo.active_branch.name
    except TypeError:   # detached HEAD: follow that commit
        return repo.head.commit.hexsha


class GitOpsRepo:
    def __init__(self, path: Path, remote: str | None = None, branch: str | None = None):
        git = _git()
        self.path = Path(path)
        try:
            self.repo = git.Repo(self.path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
            raise ConfigError("not a GitOps repository", where=str(path), hint="run `wasmops init`") from exc
        self.remote = remote
        self._branch = branch or _default_branch(self.repo)
        with self.repo.config_writer() as cw:
            if not cw.has_option("user", "name"):
                cw.set_value("user", "name", AUTHOR[0])
                cw.set_value("user", "email", AUTHOR[1])

    @classmethod
    def open(cls, path: str | Path, remote: str | None = None, branch: str | None = None) -> "GitOpsRepo":
        return cls(Path(path), remote, branch)

    @classmethod
    def from_settings(cls, s: Settings) -> "GitOpsRepo":
        return cls(s.gitops_dir, s.gitops_remote, getattr(s, "gitops_branch", None))

    # -- reading -----------------------------------------------------------------------------
    @property
    def head(self) -> str:
        return self.repo.head.commit.hexsha

    @property
    def branch(self) -> str:
        """The branch whose tip is the desired state (``main``, or the clone's default branch)."""
        return self._branch

    def desired(self, revision: str | None = None) -> DesiredState:
        """The desired state at ``revision`` (default: the tip of :attr:`branch`), read from Git
        objects: uncommitted edits in the working tree are never applied. Broken files are in
        ``.errors``; every valid manifest is still there."""
        return load_desired_state_at(self.path, revision or self.branch)

    def manifest_file(self, key: str) -> Path:
        """The working-tree file of ``key`` (to edit and commit). A broken file of ``key`` raises
        its SpecError; broken files of other modules do not matter."""
        ds = load_desired_state(self.path, strict=False)
        if key not in ds.files:
            ds.deployment(key)   # raises SpecError for a broken file, else NotFound
        return self.path / ds.files[key]

    # -- locking, remote -----------------------------------------------------------------------
    @contextmanager
    def locked(self):
        """One writer at a time (parallel releases of different modules share the working tree)."""
        lock = Path(self.repo.git_dir) / "wasmops.lock"
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def pull(self) -> None:
        if not self.remote:
            return
        try:
            self.repo.git.pull("--rebase", "origin", self.repo.active_branch.name)
        except _git().GitCommandError as exc:
            self._abort_rebase()
            raise TransientError(f"git pull failed: {exc.stderr.strip()[:300]}", where=self.remote) from exc

    def refresh(self) -> "GitOpsRepo":
        """Catch up with the remote before reading desired state (under the lock: a writer in the same
        clone may be mid-commit). A release on a worker whose clone was made before the module was
        onboarded elsewhere would otherwise not find its manifest. No remote: nothing to do."""
        if self.remote:
            with self.locked():
                self.pull()
        return self

    def _abort_rebase(self) -> None:
        git_dir = Path(self.repo.git_dir)
        if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
            self.repo.git.rebase("--abort")

    def push(self, attempts: int | None = None, reapply: Callable[[], object] | None = None) -> str:
        """Push the branch; the commit the remote's branch now points at.

        On a non-fast-forward (or a ref another push was updating at that instant): wait
        :func:`push_backoff`, fetch, rebase the local commits onto the remote's branch, try again, at
        most ``attempts`` times (:data:`PUSH_ATTEMPTS`). When the rebase conflicts, ``reapply`` (if
        given) is called on a working tree reset to the remote's tip to make the change again and
        commit it; without it, the conflict is a TransientError. Any other refusal (a hook, rights)
        is a TransientError at once.
        """
        if not self.remote:
            return self.head
        git = _git()
        branch = self.repo.active_branch.name
        attempts = attempts or PUSH_ATTEMPTS
        for i in range(attempts):
            try:
                self.repo.git.push("origin", f"{branch}:{branch}")
                return self.head
            except git.GitCommandError as exc:
                msg = (exc.stderr or "").lower()
                if not any(m in msg for m in _LOST_RACE) or i == attempts - 1:
                    raise TransientError(f"git push failed after {i + 1} attempt(s): {exc.stderr.strip()[:300]}",
                                         where=self.remote) from exc
            time.sleep(push_backoff(i))
            self._catch_up(branch, reapply)
        raise AssertionError("unreachable")

    def _catch_up(self, branch: str, reapply: Callable[[], object] | None) -> None:
        git = _git()
        try:
            self.repo.git.fetch("origin", branch)
            self.repo.git.rebase(f"origin/{branch}")
            return
        except git.GitCommandError as exc:
            self._abort_rebase()
            if reapply is None:
                raise TransientError(f"cannot rebase onto the remote: {(exc.stderr or '').strip()[:300]}",
                                     where=self.remote) from exc
        self.repo.git.reset("--hard", f"origin/{branch}")    # drop the local commit; make the change again
        reapply()

    def _commit_local(self, paths: list[Path], message: str) -> CommitResult:
        """Stage ``paths`` and commit them (no push). Through the git CLI, whose working directory is
        this repo's: GitPython's ``IndexFile.add`` chdir()s the whole process, so two threads writing
        two clones would stage each other's files."""
        rels = [str(p.relative_to(self.path)) for p in paths]
        self.repo.git.add("--", *rels)
        if not self.repo.git.diff("--cached", "--name-only", "HEAD"):
            return CommitResult(self.head, False)
        name, email = AUTHOR
        self.repo.git.execute(["git", "-c", f"user.name={name}", "-c", f"user.email={email}", "-c",
                               "commit.gpgsign=false", "commit", "-q", "--no-verify", "--cleanup=verbatim",
                               f"--author={name} <{email}>", "-m", message])
        return CommitResult(self.head, True)

    def _commit(self, paths: list[Path], message: str,
                reapply: Callable[[], object] | None = None) -> CommitResult:
        res = self._commit_local(paths, message)
        if res.changed and self.remote:
            return CommitResult(self.push(reapply=reapply), True)
        return res

    def _write(self, edit: Callable[[], "CommitResult | tuple[list[Path], str]"]) -> CommitResult:
        """Under the lock: pull, ``edit()`` (returns the paths and message to commit, or a CommitResult
        when there is nothing to do), commit, push. ``edit`` runs again if a conflicting push forces it."""
        def again() -> None:
            out = edit()
            if not isinstance(out, CommitResult):
                self._commit_local(*out)

        with self.locked():
            self.pull()
            out = edit()
            if isinstance(out, CommitResult):
                return out
            return self._commit(*out, reapply=again)

    # -- writing -------------------------------------------------------------------------------
    def set_module_ref(self, key: str, *, tag: str, digest: str, provenance: dict[str, str],
                       extra: Callable[[dict], None] | None = None, awaiting: str | None = None) -> CommitResult:
        """Write tag + digest into the manifest and commit with the provenance as trailers.
        ``awaiting``: the release waits for a person's approval (its run id, annotation
        ``AWAITING_APPROVAL``): reconcilers keep what the host runs until ``clear_awaiting``.

        Idempotent: if the manifest already holds this digest, nothing is committed.
        """
        def edit():
            path = self.manifest_file(key)
            self.refuse_uncommitted(path)
            data = yamledit.load(path)
            ref = data["spec"]["moduleRef"]
            if ref.get("digest") == digest and ref.get("tag") == tag:
                return CommitResult(self.last_commit_for(key, digest) or self.head, False)
            ref["tag"], ref["digest"] = tag, digest
            if awaiting:
                data["metadata"].setdefault("annotations", {})[AWAITING_APPROVAL] = awaiting
            if extra:
                extra(data)
            yamledit.dump(path, data)
            trailers = "\n".join(f"Wasmops-{k}: {v}" for k, v in provenance.items() if v)
            msg = f"release {key} {tag}\n\nSet {key} moduleRef to {digest}.\n\n{trailers}\nWasmops-Digest: {digest}\n"
            return [path], msg

        return self._write(edit)

    def refuse_uncommitted(self, path: Path) -> None:
        """A ConfigError naming ``path`` when it has changes not committed: a release commit would
        take them along unreviewed (an operator's uncommitted `replicas: 3` went live that way)."""
        rel = str(path.relative_to(self.path))
        if self.repo.is_dirty(path=rel) or rel in self.repo.untracked_files:
            raise ConfigError("has changes that are not committed; a release would commit them unreviewed",
                              where=str(path), hint=f"commit them (git -C {self.path} commit {rel}) or discard them "
                                                    f"(git -C {self.path} checkout -- {rel}), then release again")

    def last_commit_for(self, key: str, digest: str) -> str | None:
        """The newest commit whose message releases ``digest`` for ``key``."""
        for c in self.repo.iter_commits(max_count=500):
            if f"Wasmops-Digest: {digest}" in c.message and f"release {key} " in c.message:
                return c.hexsha
        return None

    def clear_awaiting(self, key: str, *, reason: str, actor: str) -> CommitResult:
        """The approval came: the manifest's ``AWAITING_APPROVAL`` annotation goes (idempotent)."""
        def edit():
            path = self.manifest_file(key)
            data = yamledit.load(path)
            run = _drop_awaiting(data)
            if run is None:
                return CommitResult(self.head, False)
            yamledit.dump(path, data)
            return [path], f"approve release of {key}\n\n{reason}\n\nWasmops-Approved-Run: {run}\nWasmops-Actor: {actor}\n"

        return self._write(edit)

    def revert_release(self, key: str, digest: str, *, reason: str, actor: str) -> CommitResult:
        """Undo the release of ``digest`` for ``key``: restore the manifest's previous moduleRef."""
        def edit():
            path = self.manifest_file(key)
            data = yamledit.load(path)
            if data["spec"]["moduleRef"].get("digest") != digest:
                return CommitResult(self.head, False)  # already rolled back (or never released)
            sha = self.last_commit_for(key, digest)
            prev = None
            if sha:
                commit = self.repo.commit(sha)
                rel = str(path.relative_to(self.path))
                if commit.parents:
                    try:
                        prev = yaml.safe_load(commit.parents[0].tree[rel].data_stream.read())["spec"]["moduleRef"]
                    except KeyError:
                        prev = None
            ref = data["spec"]["moduleRef"]
            if prev and prev.get("digest"):
                ref["tag"], ref["digest"] = prev["tag"], prev["digest"]
            else:
                ref["tag"] = "unreleased"
                ref.pop("digest", None)
            (data["spec"].get("rollout") or {}).pop("inProgress", None)   # the reverted canary's progress goes too
            _drop_awaiting(data)
            yamledit.dump(path, data)
            msg = (f"rollback {key} from {short(digest)}\n\n{reason}\n\nThis reverts {sha or 'an unknown commit'}.\n"
                   f"Wasmops-Rollback-Of: {digest}\nWasmops-Actor: {actor}\n")
            return [path], msg

        return self._write(edit)

    def quarantine(self, digest: str, *, module: str, reason: str, actor: str,
                   kind: str | None = None) -> CommitResult:
        def edit():
            path = self.path / q.FILE
            if not q.add(path, digest, module=module, reason=reason, kind=kind):
                return CommitResult(self.head, False)
            return [path], f"quarantine {short(digest)} ({module})\n\n{reason}\n\nWasmops-Actor: {actor}\n"

        return self._write(edit)

    def unquarantine(self, digest: str, *, actor: str, reason: str) -> CommitResult:
        def edit():
            path = self.path / q.FILE
            if not q.remove(path, digest):
                raise NotFound(f"{digest} is not quarantined", where=str(path))
            return [path], f"unquarantine {short(digest)}\n\n{reason}\n\nWasmops-Actor: {actor}\n"

        return self._write(edit)

    def free_branch(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3`` … when a branch of that name holds commits that are not on
        the current branch (a reviewer's): those are never reset away."""
        n, cand = 1, name
        while cand in self.repo.heads and not self.repo.is_ancestor(self.repo.heads[cand].commit, self.repo.head.commit):
            n += 1
            cand = f"{name}-{n}"
        return cand

    def write_files(self, files: dict[str, str], message: str, *, branch: str | None = None) -> CommitResult:
        """Commit ``files`` (relative path → text), optionally on a new branch (main stays as is; a
        branch of that name with commits of its own is kept, and ``free_branch`` names another)."""
        with self.locked():
            current = self.repo.active_branch.name
            if branch:
                branch = self.free_branch(branch)
                self.repo.git.checkout("-B", branch)
            try:
                paths = []
                for rel, text in files.items():
                    p = self.path / rel
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_text(text)
                    paths.append(p)
                res = self._commit(paths, message)
                if branch and self.remote:
                    self.repo.git.push("-f", "origin", branch)
                return res
            finally:
                if branch:
                    self.repo.git.checkout(current)


def _drop_awaiting(data) -> str | None:
    """Remove a manifest document's awaiting-approval mark (and an annotations map left empty); the run id it held."""
    notes = data["metadata"].get("annotations")
    run = notes.pop(AWAITING_APPROVAL, None) if notes else None
    if notes is not None and not notes:
        del data["metadata"]["annotations"]
    return run
