"""The last approved ``moduleRef`` of a manifest, from its Git history.

A release that waits for a person commits its new digest with the annotation
``wasmops.dev/awaiting-approval``; the approval commit removes it, a rejection reverts the
moduleRef and removes it. So the newest committed revision of the file *without* the annotation
holds what was approved: what the host keeps running meanwhile (the reconciler skips a manifest
awaiting approval), and what ``wasmops render kubernetes`` renders for it::

    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.gitops.repo import GitOpsRepo
    >>> from wasmops.gitops.repo_init import init_repo
    >>> repo = GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))
    >>> _ = repo.set_module_ref("dev/sum-wat", tag="v1", digest="sha256:" + "1" * 64, provenance={})
    >>> _ = repo.set_module_ref("dev/sum-wat", tag="v2", digest="sha256:" + "2" * 64, provenance={}, awaiting="run-7")
    >>> approved_module_ref(repo.path, "modules/dev/sum-wat.yaml")["tag"]
    'v1'
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wasmops.gitops.manifest import AWAITING_APPROVAL

#: How many commits of one file are searched for its approved revision.
MAX_COMMITS = 500


def approved_module_ref(repo_dir: str | Path, rel: str, *, max_commits: int = MAX_COMMITS,
                        avoid: frozenset[str] | set[str] = frozenset()) -> dict | None:
    """The ``moduleRef`` mapping (repository, tag, digest) of the newest committed revision of ``rel``
    that awaits no approval and whose digest is not in ``avoid`` (the quarantined digests, when render
    looks for a prod module's last good version); None when there is none with a digest (a first release
    awaiting approval), or no Git history to read."""
    import git

    try:
        commits = list(git.Repo(repo_dir).iter_commits(paths=rel, max_count=max_commits))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, ValueError):
        return None
    for c in commits:
        try:
            doc = yaml.safe_load(c.tree[rel].data_stream.read()) or {}
        except KeyError:            # the file did not exist at this commit: nothing older is this module
            return None
        except yaml.YAMLError:      # a broken revision was never deployed: look further back
            continue
        if not isinstance(doc, dict) or AWAITING_APPROVAL in ((doc.get("metadata") or {}).get("annotations") or {}):
            continue
        ref = (doc.get("spec") or {}).get("moduleRef") or {}
        if ref.get("digest") in avoid:
            continue
        return dict(ref) if ref.get("digest") else None
    return None
