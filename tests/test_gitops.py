"""The desired-state repo: seed, idempotent release commits, rollback, quarantine, remote push/pull."""

from __future__ import annotations

import git
import pytest
import yaml

from wasmops.config import Settings
from wasmops.errors import NotFound, SpecError
from wasmops.gitops.repo import GitOpsRepo
from wasmops.gitops.repo_init import init_repo
from wasmops.workspace import init_workspace

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture()
def ws(tmp_path):
    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    return s


def test_init_seeds_repo_and_trusts_workspace_key(ws):
    repo = GitOpsRepo.from_settings(ws)
    ds = repo.desired()
    assert "dev/greet-c" in ds.deployments and ds.revision == repo.head
    assert (ws.gitops_dir / "keys" / "workspace.pub").read_bytes() == ws.public_key.read_bytes()
    assert not repo.repo.is_dirty(untracked_files=True)
    n = len(list(repo.repo.iter_commits()))
    init_repo(ws)  # idempotent
    assert len(list(repo.repo.iter_commits())) == n


def test_release_commit_carries_provenance_and_is_idempotent(ws):
    repo = GitOpsRepo.from_settings(ws)
    prov = {"Source-Revision": "abc123", "Bundle-Digest": "sha256:" + "b" * 64, "Flow-Run": "run-1"}
    r1 = repo.set_module_ref("dev/greet-c", tag="t1", digest=D1, provenance=prov)
    assert r1.changed
    msg = repo.repo.commit(r1.sha).message
    assert "Wasmops-Source-Revision: abc123" in msg and f"Wasmops-Digest: {D1}" in msg and "Flow-Run: run-1" in msg
    r2 = repo.set_module_ref("dev/greet-c", tag="t1", digest=D1, provenance=prov)
    assert not r2.changed and r2.sha == r1.sha
    assert repo.desired().deployments["dev/greet-c"].spec.module_ref.digest == D1


def test_revert_restores_previous_digest_and_quarantine_is_committed(ws):
    repo = GitOpsRepo.from_settings(ws)
    repo.set_module_ref("dev/greet-c", tag="t1", digest=D1, provenance={})
    repo.set_module_ref("dev/greet-c", tag="t2", digest=D2, provenance={})
    res = repo.revert_release("dev/greet-c", D2, reason="verify failed", actor="wasmops")
    assert res.changed
    assert repo.desired().deployments["dev/greet-c"].spec.module_ref.digest == D1
    assert not repo.revert_release("dev/greet-c", D2, reason="again", actor="wasmops").changed
    assert repo.quarantine(D2, module="dev/greet-c", reason="bad", actor="ann").changed
    assert not repo.quarantine(D2, module="dev/greet-c", reason="bad", actor="ann").changed
    assert D2 in repo.desired().quarantine
    repo.unquarantine(D2, actor="ann", reason="fixed")
    assert D2 not in repo.desired().quarantine


def test_revert_of_first_release_marks_unreleased(ws):
    repo = GitOpsRepo.from_settings(ws)
    repo.set_module_ref("dev/sum-wat", tag="t1", digest=D1, provenance={})
    repo.revert_release("dev/sum-wat", D1, reason="bad", actor="wasmops")
    assert repo.desired().deployments["dev/sum-wat"].spec.module_ref.digest is None


def test_unknown_module_and_bad_manifest_are_named(ws):
    repo = GitOpsRepo.from_settings(ws)
    with pytest.raises(NotFound, match="dev/nope"):
        repo.set_module_ref("dev/nope", tag="t", digest=D1, provenance={})
    bad = ws.gitops_dir / "modules" / "dev" / "sum-wat.yaml"
    data = yaml.safe_load(bad.read_text())
    data["spec"]["replicas"] = "many"
    bad.write_text(yaml.safe_dump(data))
    assert repo.desired().deployments["dev/sum-wat"].spec.replicas == 1   # uncommitted: not seen
    repo.repo.index.add([str(bad.relative_to(ws.gitops_dir))])
    repo.repo.index.commit("break sum-wat")
    ds = repo.desired()   # the other manifests still load; asking for the broken one names file and field
    assert "dev/greet-c" in ds.deployments and [e.file for e in ds.errors] == ["modules/dev/sum-wat.yaml"]
    with pytest.raises(SpecError) as e:
        ds.deployments["dev/sum-wat"]
    assert "sum-wat.yaml" in str(e.value) and "spec.replicas" in str(e.value)
    with pytest.raises(SpecError, match="spec.replicas"):
        repo.set_module_ref("dev/sum-wat", tag="t", digest=D1, provenance={})


def test_remote_pull_push_and_non_fast_forward_retry(tmp_path):
    bare = tmp_path / "remote.git"
    seed = Settings(home=tmp_path / "seed")
    init_workspace(seed)
    git.Repo.clone_from(str(seed.gitops_dir), str(bare), bare=True)
    a = Settings(home=tmp_path / "a", gitops_remote=str(bare))
    b = Settings(home=tmp_path / "b", gitops_remote=str(bare))
    init_workspace(a)
    init_workspace(b)  # pushes its own key commit
    ra, rb = GitOpsRepo.from_settings(a), GitOpsRepo.from_settings(b)
    rb.set_module_ref("dev/sum-wat", tag="b1", digest=D2, provenance={})  # remote moves ahead of a
    ra.set_module_ref("dev/greet-c", tag="a1", digest=D1, provenance={})  # pulls first, then pushes
    remote_head = git.Repo(str(bare)).head.commit
    assert remote_head.hexsha == ra.head
    names = [c.message.splitlines()[0] for c in git.Repo(str(bare)).iter_commits(max_count=3)]
    assert names[0].startswith("release dev/greet-c") and names[1].startswith("release dev/sum-wat")
    # A push that loses the race is retried after a rebase.
    rb.repo.git.pull("--rebase", "origin", "main")
    ra.set_module_ref("dev/upper-zig", tag="a2", digest=D1, provenance={})
    path = rb.manifest_file("dev/greet-c")
    data = yaml.safe_load(path.read_text())
    data["spec"]["replicas"] = 3
    path.write_text(yaml.safe_dump(data))
    rb.repo.index.add([str(path.relative_to(rb.path))])
    rb.repo.index.commit("scale greet-c")
    rb.push()  # non-fast-forward at first: b is behind a's upper-zig release
    subjects = [c.message.splitlines()[0] for c in git.Repo(str(bare)).iter_commits(max_count=2)]
    assert subjects == ["scale greet-c", "release dev/upper-zig a2"]


def test_refresh_reads_what_another_clone_pushed_after_this_one_was_made(tmp_path):
    """A worker's clone made before a module was onboarded elsewhere: ``refresh()`` (which a release
    does before reading desired state) finds the new manifest; without a remote it changes nothing."""
    bare = tmp_path / "remote.git"
    seed = Settings(home=tmp_path / "seed")
    init_workspace(seed)
    git.Repo.clone_from(str(seed.gitops_dir), str(bare), bare=True)
    a, b = (Settings(home=tmp_path / n, gitops_remote=str(bare)) for n in ("a", "b"))
    init_workspace(a)
    init_workspace(b)
    ra, rb = GitOpsRepo.from_settings(a), GitOpsRepo.from_settings(b)
    doc = yaml.safe_load(ra.manifest_file("dev/greet-c").read_text())
    doc["metadata"]["name"] = "late-comer"
    new = ra.path / "modules" / "dev" / "late-comer.yaml"
    new.write_text(yaml.safe_dump(doc))
    ra.repo.index.add([str(new.relative_to(ra.path))])
    ra.repo.index.commit("onboard dev/late-comer")
    ra.push()
    assert "dev/late-comer" not in rb.desired().deployments              # b's clone is stale
    assert "dev/late-comer" in rb.refresh().desired().deployments
    local = GitOpsRepo.from_settings(seed)                              # no remote: a no-op
    assert local.refresh().head == local.head


def test_a_release_pulling_from_a_remote_that_is_gone_gets_a_transient_error_naming_it(tmp_path, monkeypatch):
    """The release's git-pull task (RETRY: transient errors are retried) on a clone whose remote vanished."""
    import shutil

    from tasks.release import pull_gitops
    from wasmops.errors import TransientError

    bare = tmp_path / "remote.git"
    seed = Settings(home=tmp_path / "seed")
    init_workspace(seed)
    git.Repo.clone_from(str(seed.gitops_dir), str(bare), bare=True)
    init_workspace(Settings(home=tmp_path / "w", gitops_remote=str(bare)))
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "w"))
    monkeypatch.setenv("WASMOPS_GITOPS_REMOTE", str(bare))
    head = pull_gitops.fn()
    shutil.rmtree(bare)
    with pytest.raises(TransientError, match="git pull failed") as e:
        pull_gitops.fn()
    assert e.value.where == str(bare) and GitOpsRepo.from_settings(Settings(home=tmp_path / "w")).head == head


def test_a_release_commit_keeps_comments_and_refuses_uncommitted_edits(tmp_path):
    """An operator's manifest comments were dropped by the next release commit, and an uncommitted
    `replicas: 3` went live inside it."""
    import pytest

    from wasmops.config import Settings
    from wasmops.errors import ConfigError
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    repo = GitOpsRepo.from_settings(s)
    path = repo.path / "modules" / "dev" / "sum-wat.yaml"
    text = path.read_text().replace("replicas: 1", "replicas: 1  # keep at 1: see INC-4711")
    path.write_text("# owner: search team\n" + text)
    repo.repo.index.add([str(path.relative_to(repo.path))])
    repo.repo.index.commit("comments")
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    repo.set_module_ref("dev/sum-wat", tag="v1", digest=d1, provenance={})
    after = path.read_text()
    assert after.startswith("# owner: search team\n") and "replicas: 1  # keep at 1: see INC-4711" in after
    assert f"digest: {d1}" in after
    path.write_text(after.replace("replicas: 1", "replicas: 3"))             # not committed
    with pytest.raises(ConfigError, match="has changes that are not committed"):
        repo.set_module_ref("dev/sum-wat", tag="v2", digest=d2, provenance={})
    assert "replicas: 3" in path.read_text() and f"digest: {d1}" in path.read_text()      # nothing lost
    repo.revert_release("dev/sum-wat", d1, reason="r", actor="a")   # a rollback still goes through
