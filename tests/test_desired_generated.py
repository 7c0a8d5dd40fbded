"""Generated mixes of good and broken manifests, committed to a real Git repo: every good one loads and
is planned, every broken one is reported (file and field) in its own namespace only, the host keeps
what it runs for a broken one, and uncommitted files are never read."""

from __future__ import annotations

import git
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from wasmops.gitops.desired import load_desired_state_at
from wasmops.errors import SpecError
from wasmops.gitops.plan import plan

DIGEST = "sha256:" + "0" * 64


def manifest(ns: str, name: str) -> dict:
    return {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p"}},
            "spec": {"moduleRef": {"repository": "r", "tag": "v1", "digest": DIGEST},
                     "runtimeConfig": {"resources": {"cpu": "10m", "memory": "1Mi"}}}}


def _set(path: str, value):
    def breaker(d: dict) -> None:
        *parents, leaf = path.split(".")
        for p in parents:
            d = d[p]
        d[leaf] = value
    return breaker


# breakage -> (how to break the document or its text, what the error must name)
BREAKS = {
    "replicas": (_set("spec.replicas", "many"), "spec.replicas"),
    "memory": (_set("spec.runtimeConfig.resources.memory", "lots"), "spec.runtimeConfig.resources.memory"),
    "digest": (_set("spec.moduleRef.digest", "sha256:xyz"), "spec.moduleRef.digest"),
    "kind": (_set("kind", "Budget"), "kind"),
    "extra": (_set("spec.bogus", 1), "spec.bogus"),
    "yaml": (lambda text: text + "\n  - [unclosed\n", "not valid YAML"),
    "list": (lambda text: "- just\n- a list\n", "(document)"),
}

entries = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([None, *BREAKS]),
                             st.sampled_from([".yaml", ".yml"])), min_size=1, max_size=12)


def write_and_commit(root, files: dict[str, str]) -> git.Repo:
    repo = git.Repo.init(root, initial_branch="main")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.index.add(list(files))
    actor = git.Actor("t", "t@localhost")
    repo.index.commit("generated", author=actor, committer=actor)
    return repo


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=entries)
def test_each_manifest_stands_on_its_own(tmp_path_factory, mix):
    root = tmp_path_factory.mktemp("gitops")
    files, good, broken = {}, set(), {}
    for i, (ns, brk, ext) in enumerate(mix):
        rel, d = f"modules/{ns}/m{i}{ext}", manifest(ns, f"m{i}")
        if brk is None:
            good.add(f"{ns}/m{i}")
            files[rel] = yaml.safe_dump(d)
            continue
        fn, needle = BREAKS[brk]
        if brk in ("yaml", "list"):
            files[rel] = fn(yaml.safe_dump(d))
        else:
            fn(d)
            files[rel] = yaml.safe_dump(d)
        broken[rel] = (f"{ns}/m{i}", ns, needle)
    write_and_commit(root, files)
    (root / "modules" / "a").mkdir(parents=True, exist_ok=True)
    (root / "modules" / "a" / "uncommitted.yaml").write_text("not: [committed")

    ds = load_desired_state_at(root, "main")
    assert set(ds.deployments) == good
    assert {e.file: e.message for e in ds.errors}.keys() == broken.keys()
    for e in ds.errors:
        key, ns, needle = broken[e.file]
        assert needle in e.message and (e.key, e.namespace) == (key, ns)
        try:
            ds.deployments[key]
            raise AssertionError("a broken key must not load")
        except SpecError as exc:
            assert e.file in str(exc) and needle in str(exc)

    live = [{"namespace": ns, "name": key.split("/")[1], "digest": DIGEST} for key, ns, _ in broken.values()]
    p = plan(ds, live, registry="oci-layout:///tmp/x", namespaces={"a"})
    assert {a.key for a in p if a.kind == "create"} == {k for k in good if k.startswith("a/")}
    assert {a.key for a in p if a.invalid} == {key for key, ns, _ in broken.values() if ns == "a"}
    assert not [a for a in p if a.kind == "delete"]   # what the host runs for a broken file stays


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.sampled_from(["web", "api", "cron", "greet-c"]), min_size=1, max_size=4, unique=True),
       typo=st.sampled_from(["namespace", "name"]), which=st.integers(0, 3), to=st.sampled_from(["dev", "prod", "web", "api", "x"]))
def test_a_typo_in_metadata_never_deletes_the_module_its_file_names(names, typo, which, to):
    """An operator changed `namespace: dev` to `prod` in modules/dev/greet-c.yaml: the reconcile
    deleted dev/greet-c (and a rename silently created another module). Now the file is broken, keyed
    by its path: the host keeps what it runs for it, and nothing else is created or deleted."""
    from wasmops.gitops.desired import DesiredState, _load_modules, parse_file

    files = {f"modules/dev/{n}.yaml": manifest("dev", n) for n in names}
    rel = sorted(files)[which % len(files)]
    files[rel]["metadata"][typo] = to
    ds = DesiredState(revision="t")
    _load_modules(ds, [(r, parse_file(r, yaml.safe_dump(d))) for r, d in sorted(files.items())])
    live = [{"namespace": "dev", "name": n, "digest": DIGEST} for n in names]
    acts = plan(ds, live, registry="oci-layout:///x").actions
    changed = files[rel]["metadata"]["namespace"] != "dev" or files[rel]["metadata"]["name"] != rel.split("/")[2][:-5]
    assert not [a for a in acts if a.kind in ("delete", "create")], acts
    if changed:
        bad = [a for a in acts if a.kind == "skip" and a.key == "dev/" + rel.split("/")[2][:-5]]
        assert bad and "but the file is " + rel in bad[0].reason, acts
