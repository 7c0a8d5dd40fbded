"""The desired state at a commit, loaded incrementally: cost grows with what changed, not with the repo.

Flux's source-controller skips work when an artifact's revision has not changed; this does the same
for the GitOps repo. A :class:`DesiredLoader` remembers the last revision it loaded and every file's
parse result::

    >>> from wasmops.gitops.desired_loader import DesiredLoader
    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.gitops.repo import GitOpsRepo; from wasmops.gitops.repo_init import init_repo
    >>> repo = GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))   # seeded from deployments/
    >>> loader = DesiredLoader(repo.path)
    >>> ds = loader.load("main")
    >>> loader.last.mode                                   # every file of the seed parsed
    'full'
    >>> loader.load("main") is ds
    True
    >>> _ = repo.set_module_ref("dev/greet-c", tag="v1", digest="sha256:" + "a" * 64, provenance={})
    >>> ds = loader.load("main")
    >>> loader.last.mode, loader.last.parsed, sorted(ds.changed)
    ('incremental', 1, ['dev/greet-c'])

(first load: every file; same commit: the same object, nothing read; after a commit touching one
manifest: an incremental load that parsed one file.)

- **Same revision**: the cached :class:`~wasmops.gitops.desired.DesiredState` is returned as is (the same
  object, so a reconciler can skip by identity).
- **New revision**: ``git diff --raw --no-renames OLD NEW`` (``--name-status`` plus the new blob ids)
  names the changed files; only those are read and parsed, every other file's result is reused, and
  the state is assembled by the same code a full load uses (so both agree; a property test checks it).
- **Unknown old revision** (first load, or the old commit is gone after a force push): a full load.

Results are exactly those of :func:`~wasmops.gitops.desired.load_desired_state_at`: broken files are in
``.errors`` one by one; a broken ``quarantine.yaml`` fails the load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from wasmops.gitops.desired import (Deployments, DesiredState, ManifestError, Parsed, _commit_files, assemble, parse_all,
                      parse_file, path_key, wanted)
from wasmops.errors import NotFound

SUBMODULE = "160000"


@dataclass(frozen=True, slots=True)
class LoadStats:
    """How the last load went: ``cached`` | ``incremental`` | ``full``, files parsed, seconds."""

    mode: str
    revision: str
    parsed: int
    seconds: float
    base: str | None = None      # the revision an incremental load started from


class DesiredLoader:
    """Loads the desired state at commits of one repository, reusing the previous load (see module doc)."""

    def __init__(self, repo_dir: str | Path):
        self.repo_dir = Path(repo_dir)
        self._repo = None
        self._rev: str | None = None             # the revision ``_parsed`` describes
        self._parsed: dict[str, Parsed] = {}
        self._state: DesiredState | None = None  # assembled from ``_parsed`` (None if that failed)
        self.last: LoadStats | None = None

    @property
    def repo(self):
        if self._repo is None:
            import git

            self._repo = git.Repo(self.repo_dir)
        return self._repo

    @property
    def revision(self) -> str | None:
        """The last revision loaded."""
        return self._rev

    def resolve(self, revision: str = "HEAD") -> str:
        """The commit id ``revision`` names now (a branch moves when it is fetched)."""
        import git

        try:
            return self.repo.commit(revision).hexsha
        except (git.BadName, ValueError) as exc:
            raise NotFound(f"no commit {revision!r} in the GitOps repo", where=str(self.repo_dir)) from exc

    def load(self, revision: str = "HEAD", *, strict: bool = False) -> DesiredState:
        """The desired state at ``revision``; ``strict`` raises one SpecError for broken files."""
        t0 = time.perf_counter()
        sha = self.resolve(revision)
        if sha == self._rev and self._state is not None:
            self.last = LoadStats("cached", sha, 0, time.perf_counter() - t0, sha)
            return self._checked(self._state, strict)
        base, changes = self._rev, self._changes(self._rev, sha) if self._rev else None
        if changes is None:
            parsed, mode, n = parse_all(_commit_files(self.repo.commit(sha))), "full", None
        else:
            parsed, mode, n = self._apply(changes), "incremental", len(changes)
        prev, old = self._state, self._parsed
        self._rev, self._parsed, self._state = sha, parsed, None
        self.last = LoadStats(mode, sha, len(parsed) if n is None else n, time.perf_counter() - t0, base)
        patched = _patch(prev, old, parsed, [c[1] for c in changes], sha) if changes is not None and prev else None
        self._state = patched or assemble(parsed, sha)    # a broken quarantine.yaml raises here, every time
        self.last = LoadStats(mode, sha, self.last.parsed, time.perf_counter() - t0, base)
        return self._checked(self._state, strict)

    @staticmethod
    def _checked(ds: DesiredState, strict: bool) -> DesiredState:
        if strict:
            ds.raise_for_errors()
        return ds

    def _changes(self, old: str, new: str) -> list[tuple[str, str, str]] | None:
        """``(status, path, new blob id)`` of every wanted file that differs; None if ``old`` is unknown."""
        import git

        try:
            out = self.repo.git.diff("--raw", "-z", "--no-renames", "--no-abbrev", old, new)
        except git.GitCommandError:
            return None
        fields = out.split("\0")
        changes = []
        for i in range(0, len(fields) - 1, 2):
            meta, path = fields[i].split(), fields[i + 1]
            if len(meta) >= 5 and wanted(path):
                mode, blob, status = meta[1], meta[3], meta[4]
                # a path that stopped being a file (became a submodule) is treated as deleted
                changes.append(("D" if mode == SUBMODULE else status[0], path, blob))
        return changes

    def _apply(self, changes: list[tuple[str, str, str]]) -> dict[str, Parsed]:
        parsed = dict(self._parsed)
        for status, path, blob in changes:
            if status == "D":
                parsed.pop(path, None)
            else:
                text = self.repo.odb.stream(bytes.fromhex(blob)).read().decode("utf-8", "replace")
                parsed[path] = parse_file(path, text)
        return parsed


def _patch(prev: DesiredState, old: dict[str, Parsed], new: dict[str, Parsed], paths: list[str],
           revision: str) -> DesiredState | None:
    """``prev`` with the changed module files swapped in (dict copies, no pass over every file), or
    None when the change needs a full assembly: a broken, duplicated or non-module file is involved."""
    deps, files, changed = Deployments(prev.deployments, prev.deployments.broken), dict(prev.files), set()
    for rel in paths:
        o, n = old.get(rel), new.get(rel)
        if not rel.startswith("modules/") or isinstance(o, ManifestError) or isinstance(n, ManifestError):
            return None
        if o is not None:
            if files.get(o.key) != rel:
                return None
            del deps[o.key], files[o.key]
            changed.add(o.key)
        if n is not None:
            if n.key in deps or n.key in deps.broken or path_key(rel) not in (None, n.key):
                return None         # a duplicate, or metadata naming another module than its path
            deps[n.key], files[n.key] = n, rel
            changed.add(n.key)
    return DesiredState(revision, deps, files=files, quarantine=set(prev.quarantine), budgets=list(prev.budgets),
                        pricing=prev.pricing, errors=list(prev.errors), base_revision=prev.revision,
                        changed=frozenset(changed))
