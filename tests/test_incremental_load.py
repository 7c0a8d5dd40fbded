"""The incremental loader agrees with a full load at every commit of random edit sequences (good and
broken manifests, renames, deletions, duplicates, budgets, quarantine), committed to a real Git repo;
an unchanged revision is served from the cache and a one-file commit parses one file."""

from __future__ import annotations

import git
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st

from wasmops.gitops.desired import load_desired_state_at
from wasmops.gitops.desired_loader import DesiredLoader
from wasmops.errors import SpecError

ACTOR = git.Actor("t", "t@localhost")


def manifest(ns: str, name: str, digest_n: int, env: str = "edge") -> str:
    return yaml.safe_dump({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p", "env": env}},
        "spec": {"moduleRef": {"repository": "r", "tag": "v1", "digest": f"sha256:{digest_n:064x}"},
                 "runtimeConfig": {"resources": {"cpu": "10m", "memory": "1Mi"}}}})


def budget(team: str, amount: str) -> str:
    return yaml.safe_dump({"apiVersion": "wasmops.dev/v1alpha1", "kind": "Budget", "metadata": {"name": team},
                           "spec": {"scope": "team", "name": team, "monthlyAmount": amount, "currency": "USD"}})


NAMES = [f"modules/{ns}/{n}{ext}" for ns in ("a", "b") for n in ("m1", "m2", "m3") for ext in (".yaml", ".yml")]
TEXTS = {
    "good": lambda rel, n: manifest(rel.split("/")[1], rel.split("/")[2].split(".")[0], n),
    "other-env": lambda rel, n: manifest(rel.split("/")[1], rel.split("/")[2].split(".")[0], n, env="core"),
    "dup": lambda rel, n: manifest("a", "m1", n),            # another file defining a/m1
    "bad-field": lambda rel, n: manifest("a", "zz", n).replace("cpu: 10m", "cpu: lots"),
    "bad-yaml": lambda rel, n: "metadata: {name: [unclosed\n",
    "not-a-map": lambda rel, n: "- a\n- list\n",
}
edit = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.sampled_from(sorted(TEXTS)), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.none(), st.none()),
    st.tuples(st.just("budget"), st.sampled_from(["budgets/t.yaml", "budgets/u.yml"]),
              st.sampled_from(["10", "x"]), st.none()),
    st.tuples(st.just("quarantine"), st.just("quarantine.yaml"), st.sampled_from(["ok", "broken"]),
              st.integers(0, 5)),
)


def apply_edit(root, repo: git.Repo, op, rel, what, n) -> None:
    path = root / rel
    if op == "delete":
        if path.exists():
            path.unlink()
            repo.git.rm("-q", "-f", "--cached", "--ignore-unmatch", rel)
        return
    if op == "write":
        text = TEXTS[what](rel, n)
    elif op == "budget":
        text = budget("t", what)
    else:
        text = (yaml.safe_dump({"entries": [{"digest": f"sha256:{n:064x}", "module": "a/m1", "reason": "r"}]})
                if what == "ok" else "entries: 3\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    repo.index.add([rel])


def snapshot(load):
    try:
        ds = load()
    except SpecError as exc:
        return ("SpecError", str(exc))
    return (ds.revision, dict(ds.deployments), ds.files, ds.quarantine, ds.budgets, ds.pricing, ds.errors,
            dict(ds.deployments.broken))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits=st.lists(st.lists(edit, min_size=1, max_size=4), min_size=1, max_size=6))
# Found by hypothesis: a valid a/m1 in m1.yaml beside a broken m1.yml, then an unrelated change. The
# incremental state counted a/m1 as broken too; a full load does not (the valid manifest wins).
@example(commits=[[("write", "modules/a/m1.yaml", "dup", 0), ("write", "modules/a/m1.yml", "bad-yaml", 0)],
                  [("delete", "modules/a/m2.yaml", None, None)]])
# And: a file whose metadata names another module than its path (a broken file in a full load) was
# added as that module by the incremental one.
@example(commits=[[("delete", "modules/a/m1.yaml", None, None)], [("write", "modules/a/m2.yaml", "dup", 0)]])
def test_incremental_equals_full_on_random_edits(tmp_path_factory, commits):
    root = tmp_path_factory.mktemp("g")
    repo = git.Repo.init(root, initial_branch="main")
    (root / "README").write_text("x")
    repo.index.add(["README"])
    repo.index.commit("init", author=ACTOR, committer=ACTOR)
    loader = DesiredLoader(root)
    for edits in commits:
        for e in edits:
            apply_edit(root, repo, *e)
        repo.index.commit("edit", author=ACTOR, committer=ACTOR)
        inc = snapshot(lambda: loader.load("main"))
        full = snapshot(lambda: load_desired_state_at(root, "main"))
        assert inc == full
        assert loader.last.mode in ("incremental", "full")


def test_cached_by_revision_and_one_file_parsed(tmp_path):
    repo = git.Repo.init(tmp_path, initial_branch="main")
    for i in range(30):
        rel = f"modules/n/m{i}.yaml"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(manifest("n", f"m{i}", i))
        repo.index.add([rel])
    repo.index.commit("30 modules", author=ACTOR, committer=ACTOR)
    loader = DesiredLoader(tmp_path)
    first = loader.load("main")
    assert loader.last.mode == "full" and loader.last.parsed == 30
    assert loader.load("main") is first and loader.last.mode == "cached"
    (tmp_path / "modules/n/m7.yaml").write_text(manifest("n", "m7", 99))
    (tmp_path / "notes.txt").write_text("not desired state")
    repo.index.add(["modules/n/m7.yaml", "notes.txt"])
    repo.index.commit("one change", author=ACTOR, committer=ACTOR)
    second = loader.load("main")
    assert loader.last.mode == "incremental" and loader.last.parsed == 1 and loader.last.base == first.revision
    assert second.deployments["n/m7"].spec.module_ref.digest == f"sha256:{99:064x}"
    assert second.deployments["n/m1"] is first.deployments["n/m1"]     # untouched files are reused


def test_unknown_old_revision_falls_back_to_a_full_load(tmp_path):
    repo = git.Repo.init(tmp_path, initial_branch="main")
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules/m.yaml").write_text(manifest("n", "m", 1))
    repo.index.add(["modules/m.yaml"])
    repo.index.commit("one", author=ACTOR, committer=ACTOR)
    loader = DesiredLoader(tmp_path)
    loader.load("main")
    loader._rev = "f" * 40        # as if the commit we loaded was force-pushed away and collected
    ds = loader.load("main")
    assert loader.last.mode == "full" and list(ds.deployments) == ["n/m"]


def test_unknown_revision_is_not_found(tmp_path):
    git.Repo.init(tmp_path, initial_branch="main")
    from wasmops.errors import NotFound

    with pytest.raises(NotFound):
        DesiredLoader(tmp_path).load("main")
