"""Several writers, each with its own clone, push to one bare remote at the same moment (workers on
several machines): every change lands, exactly one commit per writer, a linear history. Writers that
touch different files rebase; writers that touch one file (quarantine.yaml) conflict and re-apply."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import git
import pytest
import yaml

from wasmops.gitops import repo as gitops
from wasmops.errors import TransientError
from wasmops.gitops.repo import GitOpsRepo


def _manifest(ns: str, name: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p"}},
        "spec": {"environment": "dev", "moduleRef": {"repository": f"wasmops/{name}", "tag": "unreleased"},
                 "runtimeConfig": {"resources": {"cpu": "50m", "memory": "2Mi"}}}}, sort_keys=False)


@pytest.fixture()
def remote(tmp_path):
    """A bare remote seeded with modules whose names a seeded RNG makes up (not the sample's)."""
    rng = random.Random(16)
    names = sorted({"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
                    for _ in range(12)})[:8]
    seed = tmp_path / "seed"
    repo = git.Repo.init(seed, initial_branch="main")
    for name in names:
        (seed / "modules" / "dev").mkdir(parents=True, exist_ok=True)
        (seed / "modules" / "dev" / f"{name}.yaml").write_text(_manifest("dev", name))
    (seed / "quarantine.yaml").write_text("entries: []\n")
    repo.git.add("-A")
    repo.index.commit("seed", author=git.Actor("t", "t@t"), committer=git.Actor("t", "t@t"))
    bare = tmp_path / "remote.git"
    git.Repo.clone_from(str(seed), str(bare), bare=True)
    return bare, [f"dev/{n}" for n in names]


def _writer(tmp_path, bare, i: int) -> GitOpsRepo:
    path = tmp_path / f"w{i}"
    git.Repo.clone_from(str(bare), str(path))
    return GitOpsRepo.open(path, remote=str(bare))


def test_n_concurrent_writers_all_land_with_one_commit_each(tmp_path, remote):
    bare, keys = remote
    n = 6
    writers = [_writer(tmp_path, bare, i) for i in range(n)]
    start = threading.Barrier(n)
    digests = {i: f"sha256:{random.Random(i).getrandbits(256):064x}" for i in range(n)}

    def write(i: int):
        start.wait()
        if i % 2:   # odd writers all edit quarantine.yaml: their rebases conflict, they re-apply
            return writers[i].quarantine(digests[i], module=keys[i], reason=f"writer-{i}", actor=f"w{i}")
        return writers[i].set_module_ref(keys[i], tag=f"writer-{i}", digest=digests[i], provenance={"Actor": f"w{i}"})

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(write, range(n)))
    assert all(r.changed for r in results), results

    remote_repo = git.Repo(str(bare))
    commits = list(remote_repo.iter_commits("main"))
    subjects = [c.message.splitlines()[0] for c in commits]
    assert len(commits) == n + 1 and all(len(c.parents) <= 1 for c in commits), subjects    # linear, one per writer
    for i in range(n):
        assert sum(f"writer-{i}" in c.message for c in commits) == 1, f"writer {i}"
    tree = remote_repo.commit("main").tree
    entries = yaml.safe_load(tree["quarantine.yaml"].data_stream.read())["entries"]
    assert sorted(e["digest"] for e in entries) == sorted(digests[i] for i in range(1, n, 2))
    for i in range(0, n, 2):
        ref = yaml.safe_load(tree[f"modules/{keys[i]}.yaml"].data_stream.read())["spec"]["moduleRef"]
        assert (ref["tag"], ref["digest"]) == (f"writer-{i}", digests[i])
    # each writer's reported commit is in the remote's history
    assert {r.sha for r in results} <= {c.hexsha for c in commits}


def test_a_conflicting_push_reapplies_the_change_on_the_remotes_tip(tmp_path, remote):
    bare, keys = remote
    a, b = _writer(tmp_path, bare, 0), _writer(tmp_path, bare, 1)
    a.pull = lambda: None                       # a misses b's push: its own push is refused
    b.quarantine("sha256:" + "b" * 64, module=keys[1], reason="b first", actor="b")
    calls = []
    real = a._commit_local
    a._commit_local = lambda *args: calls.append(args) or real(*args)
    res = a.quarantine("sha256:" + "a" * 64, module=keys[0], reason="a second", actor="a")
    assert len(calls) == 2                      # committed, refused, rebase conflicted, made again
    head = git.Repo(str(bare)).commit("main")
    assert res.sha == head.hexsha and head.parents[0].message.startswith("quarantine sha256:bbbb")
    entries = yaml.safe_load(head.tree["quarantine.yaml"].data_stream.read())["entries"]
    assert {e["digest"][7:11] for e in entries} == {"aaaa", "bbbb"}


def test_a_push_refused_for_another_reason_is_not_retried(tmp_path, remote, monkeypatch):
    bare, keys = remote
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'frozen: no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    w = _writer(tmp_path, bare, 0)
    waits = []
    monkeypatch.setattr(gitops, "push_backoff", lambda i: waits.append(i) or 0)
    with pytest.raises(TransientError, match="after 1 attempt.*frozen") as exc:
        w.set_module_ref(keys[0], tag="t", digest="sha256:" + "c" * 64, provenance={})
    assert exc.value.where == str(bare) and waits == []
