"""A release that stopped after its commit reached the host, before it was verified or judged.

The commit event and the scheduled reconcile apply a release commit within seconds, so a release
interrupted after its commit (Ctrl-C during the AI check, a killed process) left the new digest
serving, unverified or unjudged, and the same command then said "nothing to do": a regression stayed
live with no verdict. Whether a serving digest was released to the end is in the decision records:
a ``verify`` that passed and, when the release judges, a ``release-verdict`` for that digest and
target. A re-release of a digest without them finishes the release (verify, AI check) instead.

The release judge needs the digest that served before: :func:`previous_deploy` reads it from the
manifest as it was before the commit that set this digest (Git history), in the host's deploy shape.
"""

from __future__ import annotations

from pathlib import Path

from wasmops.gitops.decisions import list_decisions


def finished(gitops_dir: str | Path, key: str, manifest_digest: str, *, judged: bool) -> bool:
    """Did a release of ``manifest_digest`` to ``key`` pass verify (and get a release verdict, when
    ``judged``)?"""
    def recorded(kind: str, verdicts: tuple[str, ...] | None = None) -> bool:
        return any(d.subject == key and d.digest == manifest_digest and (verdicts is None or d.verdict in verdicts)
                   for d in list_decisions(gitops_dir, subject=key, kind=kind))

    return recorded("verify", ("pass",)) and (not judged or recorded("release-verdict"))


def previous_deploy(repo, key: str, manifest_digest: str, registry: str) -> dict | None:
    """The host's deploy body for what ``key`` pinned before the commit that set ``manifest_digest``
    (None: no such commit, the first release, or that version pinned no digest)."""
    from wasmops.gitops.desired import artifact_ref
    from wasmops.gitops.manifest import WasmModuleDeployment
    from wasmops.gitops.plan_action import desired_spec
    from wasmops.yamldoc import parse

    sha = repo.last_commit_for(key, manifest_digest)
    if not sha:
        return None
    commit = repo.repo.commit(sha)
    rel = str(repo.manifest_file(key).relative_to(repo.path))
    if not commit.parents:
        return None
    try:
        text = (commit.parents[0].tree / rel).data_stream.read().decode()
    except KeyError:
        return None
    m = parse(text, rel, WasmModuleDeployment)
    ref = m.spec.module_ref
    if not ref.digest or ref.digest == manifest_digest:
        return None
    return {"ref": artifact_ref(ref.repository, ref.tag, registry), **desired_spec(m)}
