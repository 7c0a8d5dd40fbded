"""Every lifted quarantine is a decision record, however it was lifted.

A quarantine is an automatic decision (a rollback, a failed verify) that a person overrides by
taking the digest off ``quarantine.yaml``: with ``wasmops quarantine remove`` (a commit carrying a
``Wasmops-Actor`` trailer and the reason) or by editing the file in Git by hand. Both are commits,
so the audit trail is in Git history; this module turns each removal into a decision record of kind
``quarantine``, verdict ``lifted``, naming the commit, its author (or the actor it names) and its
message, so ``wasmops decisions`` shows who let the digest back and why.

:func:`record_lifts` is idempotent (one record per commit and digest) and is called after
``quarantine remove`` and by every reconcile pass, which is where a hand edit takes effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from wasmops.gitops.decisions import Decision, list_decisions, record
from wasmops.gitops.quarantine import FILE

#: How far back the history of ``quarantine.yaml`` is read (commits that touched it).
MAX_COMMITS = 200
POLICY_RULE = "a quarantined digest is deployed again only once a person takes it off quarantine.yaml"
_ACTOR = re.compile(r"^Wasmops-Actor:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Lift:
    commit: str
    digest: str
    module: str
    quarantined_for: str      # the entry's reason
    actor: str
    by_hand: bool             # no Wasmops-Actor trailer: the file was edited in Git directly
    message: str


def _entries(text: str | None) -> dict[str, dict] | None:
    """Entries by digest; None for a version that does not parse (it lifts nothing: the loader reports it)."""
    try:
        data = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        return None
    entries = data.get("entries") if isinstance(data, dict) else None
    if entries is not None and not isinstance(entries, list):
        return None
    return {str(e["digest"]): e for e in entries or [] if isinstance(e, dict) and "digest" in e}


def lifts(repo) -> list[Lift]:
    """Digests taken off ``quarantine.yaml``, oldest first, from the commits that touched it
    (``repo``: a ``git.Repo``), each against the last version that parsed. A digest put back and
    lifted again gives two lifts."""
    out = []
    shas = list(reversed(repo.git.log("--format=%H", f"-n{MAX_COMMITS}", "--", FILE).split()))
    if not shas:
        return out
    first = repo.commit(shas[0])
    prev = _entries(_show(repo, f"{shas[0]}^", first.parents)) or {}
    for sha in shas:
        after = _entries(_show(repo, sha, True))
        if after is None:
            continue
        commit = repo.commit(sha)
        trailer = _ACTOR.search(commit.message)
        actor = trailer.group(1).strip() if trailer else f"{commit.author.name} <{commit.author.email}>"
        for digest in sorted(set(prev) - set(after)):
            e = prev[digest]
            out.append(Lift(sha, digest, str(e.get("module") or "?"), str(e.get("reason") or ""), actor,
                            trailer is None, commit.message.strip()))
        prev = after
    return out


def _show(repo, rev: str, exists) -> str | None:
    if not exists:
        return None
    try:
        return repo.git.show(f"{rev}:{FILE}")
    except Exception:  # noqa: BLE001 - the file did not exist at that commit (GitCommandError)
        return None


#: In the clone's .git directory (never committed): the newest commit of ``quarantine.yaml`` audited.
MARK = "wasmops-quarantine-audited"


def record_lifts(gitops_dir: str | Path) -> list[Decision]:
    """A decision record for every lift that has none yet; returns the new ones. A reconcile pass calls
    it every time: when ``quarantine.yaml`` has no commit since the last audit it costs one ``git log``
    (not a read of every decision record)."""
    from git import Repo

    repo = Repo(gitops_dir)
    try:
        if not repo.head.is_valid():
            return []
        newest = repo.git.log("--format=%H", "-n1", "--", FILE).strip()
        mark = Path(repo.git_dir) / MARK
        if not newest or (mark.exists() and mark.read_text().strip() == newest):
            return []
        new = _record_new(gitops_dir, repo)
        mark.write_text(newest + "\n")
        return new
    finally:
        repo.close()


def _record_new(gitops_dir, repo) -> list[Decision]:
    seen = {(d.inputs.get("commit"), d.digest) for d in list_decisions(gitops_dir, kind="quarantine")}
    new = []
    for lift in lifts(repo):
        if (lift.commit, lift.digest) in seen:
            continue
        d = _decision(lift)
        record(gitops_dir, d)
        seen.add((lift.commit, lift.digest))
        new.append(d)
    return new


def _decision(lift: Lift) -> Decision:
    how = "by a hand edit of quarantine.yaml" if lift.by_hand else "with `wasmops quarantine remove`"
    why = " / ".join(" ".join(p.split()) for p in _ACTOR.sub("", lift.message).split("\n\n") if p.strip())
    return Decision(kind="quarantine", subject=lift.module, verdict="lifted", actor=lift.actor, digest=lift.digest,
                    policy_rule=POLICY_RULE, action="the digest may be deployed again",
                    explanation=f"lifted {how} in commit {lift.commit[:12]}: {why or '(no reason given)'}; "
                                f"it was quarantined for: {lift.quarantined_for or '(no reason recorded)'}",
                    inputs={"commit": lift.commit, "by_hand": lift.by_hand, "quarantined_for": lift.quarantined_for})
