"""Reconcile from commits, one manifest at a time, against a real host process and real Git repos:
broken manifests stall on their own (file and field) while the good ones serve, uncommitted edits are
never applied, ``.yml`` loads, and a namespace filter sees only its own files."""

from __future__ import annotations

import itertools
import subprocess

import pytest
import yaml

from support.host import WASMOPS
from wasmops.errors import SpecError
from wasmops.gitops.repo import GitOpsRepo
from wasmops.gitops.reconcile import reconcile
from support.wat import printing_wat

_n = itertools.count()


wat = printing_wat


def doc(ns: str, name: str, layout, tag: str, digest: str | None, **env) -> dict:
    return {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"team": "core", "project": "rc"}},
            "spec": {"moduleRef": {"repository": f"oci-layout://{layout}", "tag": tag, "digest": digest},
                     "runtimeConfig": {"resources": {"cpu": "50m", "memory": "16Mi"}, "env": env}}}


# Five ways to break a manifest, each with the field its Stalled condition must name.
BROKEN = {
    "replicas": (lambda d: d["spec"].__setitem__("replicas", "many"), "spec.replicas"),
    "labels": (lambda d: d["metadata"]["labels"].pop("team"), "metadata.labels"),
    "digest": (lambda d: d["spec"]["moduleRef"].__setitem__("digest", "sha256:nothex"), "spec.moduleRef.digest"),
    "memory": (lambda d: d["spec"]["runtimeConfig"]["resources"].__setitem__("memory", "lots"),
               "spec.runtimeConfig.resources.memory"),
    "extra": (lambda d: d["spec"].__setitem__("replicaz", 2), "spec.replicaz"),
}


@pytest.fixture(scope="module")
def repo(workspace) -> GitOpsRepo:
    return GitOpsRepo.from_settings(workspace.settings)


@pytest.fixture
def ns() -> str:
    return f"rcc{next(_n)}"


def publish(workspace, tag: str, text: str) -> str:
    return workspace.publish_wat(tag, wat(text))[1]


def good(workspace, ns: str, name: str, **env) -> tuple[str, dict]:
    digest = publish(workspace, f"{ns}-{name}", f'{{"m":"{ns}/{name}"}}')
    return digest, doc(ns, name, workspace.settings.oci_layout, f"{ns}-{name}", digest, **env)


def commit(repo: GitOpsRepo, files: dict[str, dict | str], msg: str = "test") -> None:
    repo.write_files({p: d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for p, d in files.items()}, msg)


def served(host, ns: str) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in host.modules() if m["namespace"] == ns}


def test_five_broken_manifests_stall_each_naming_file_and_field_and_the_good_ones_serve(host, workspace, repo, ns):
    goods = dict(good(workspace, ns, n) for n in ("g1", "g2", "g3"))
    files = {f"modules/{ns}/{d['metadata']['name']}.yaml": d for d in goods.values()}
    for i, (case, (breaker, _)) in enumerate(BROKEN.items()):
        d = doc(ns, f"b{i}", workspace.settings.oci_layout, "t", None)
        breaker(d)
        files[f"modules/{ns}/b{i}-{case}.yaml"] = d
    commit(repo, files, "three good, five broken")

    rep = reconcile(repo.desired(), host, registry=workspace.settings.registry_base, namespaces={ns})
    stalled = {k: c["Stalled"] for k, c in rep.conditions.items() if c["Stalled"].status == "True"}
    assert len(stalled) == 5 and set(rep.invalid) == set(stalled)
    for i, (case, (_, fld)) in enumerate(BROKEN.items()):
        c = stalled[f"{ns}/b{i}"]
        assert c.reason == "InvalidManifest"
        assert f"modules/{ns}/b{i}-{case}.yaml" in c.message and fld in c.message, c.message
    assert served(host, ns) == {d["metadata"]["name"]: dg for dg, d in goods.items()}
    assert all(host.run(ns, n, b"").json() == {"m": f"{ns}/{n}"} for n in ("g1", "g2", "g3"))
    assert rep.ok and not rep.complete and "5 broken manifest(s)" in rep.summary()


def test_a_broken_edit_of_a_served_module_keeps_it_served_and_never_prunes_it(host, workspace, repo, ns):
    digest, d = good(workspace, ns, "keep")
    commit(repo, {f"modules/{ns}/keep.yaml": d})
    assert reconcile(repo.desired(), host, registry=workspace.settings.registry_base, namespaces={ns}).ok
    commit(repo, {f"modules/{ns}/keep.yaml": "metadata: {name: keep\nspec: [\n"}, "break keep")
    ds = repo.desired()
    with pytest.raises(SpecError, match=rf"modules/{ns}/keep.yaml: line \d+, column \d+: not valid YAML"):
        ds.deployments[f"{ns}/keep"]
    rep = reconcile(ds, host, registry=workspace.settings.registry_base, namespaces={ns})
    assert [(a.kind, a.key) for a in rep.plan] == [("skip", f"{ns}/keep")]
    assert rep.conditions[f"{ns}/keep"]["Stalled"].status == "True"
    assert served(host, ns) == {"keep": digest}


def test_uncommitted_edits_are_not_applied(host, workspace, repo, ns):
    digest, d = good(workspace, ns, "app", LEVEL="committed")
    commit(repo, {f"modules/{ns}/app.yaml": d})
    registry = workspace.settings.registry_base
    assert reconcile(repo.desired(), host, registry=registry, namespaces={ns}).ok
    d["spec"]["runtimeConfig"]["env"]["LEVEL"] = "uncommitted"
    d["metadata"]["labels"]["team"] = "uncommitted-team"
    (repo.path / f"modules/{ns}/app.yaml").write_text(yaml.safe_dump(d))
    extra_digest, extra = good(workspace, ns, "extra")
    (repo.path / f"modules/{ns}/extra.yaml").write_text(yaml.safe_dump(extra))

    rep = reconcile(repo.desired(), host, registry=registry, namespaces={ns})
    assert [a.kind for a in rep.plan] == ["noop"] and rep.drift == [] and rep.ok
    (live,) = [m for m in host.modules() if m["namespace"] == ns]
    assert live["labels"]["team"] == "core" and served(host, ns) == {"app": digest}

    commit(repo, {f"modules/{ns}/app.yaml": d, f"modules/{ns}/extra.yaml": extra}, "now committed")
    rep = reconcile(repo.desired(), host, registry=registry, namespaces={ns})
    assert rep.ok and sorted(a.kind for a in rep.plan) == ["create", "update"]
    assert served(host, ns) == {"app": digest, "extra": extra_digest}


def test_yml_manifests_load(host, workspace, repo, ns):
    digest, d = good(workspace, ns, "short")
    commit(repo, {f"modules/{ns}/short.yml": d})
    ds = repo.desired()
    assert ds.files[f"{ns}/short"] == f"modules/{ns}/short.yml"
    assert reconcile(ds, host, registry=workspace.settings.registry_base, namespaces={ns}).ok
    assert served(host, ns) == {"short": digest}


def test_a_namespace_filter_is_not_blocked_by_a_broken_file_elsewhere(host, workspace, repo, ns):
    prod, dev = f"{ns}-prod", f"{ns}-dev"
    digest, d = good(workspace, prod, "api")
    broken = doc(dev, "api", workspace.settings.oci_layout, "t", None)
    broken["spec"]["replicas"] = -1
    commit(repo, {f"modules/{prod}/api.yaml": d, f"modules/{dev}/api.yaml": broken,
                  f"modules/{dev}/garbage.yaml": "::: not yaml {"})

    ok = subprocess.run([WASMOPS, "reconcile", "-n", prod], env=workspace.env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert dev not in ok.stdout and served(host, prod) == {"api": digest}

    bad = subprocess.run([WASMOPS, "reconcile", "-n", dev, "--dry-run"], env=workspace.env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    out = " ".join(bad.stdout.split())
    assert f"modules/{dev}/api.yaml: spec.replicas" in out and f"modules/{dev}/garbage.yaml" in out
    assert prod not in out


def test_the_release_path_releases_next_to_a_broken_manifest(host, workspace, repo, ns):
    """What the release flow does (commit a moduleRef, reconcile the namespace, require ``ok``) works
    beside a broken file; asking for the broken module itself names its file and field."""
    digest, d = good(workspace, ns, "rel")
    d["spec"]["moduleRef"].pop("digest")
    broken = doc(ns, "other", workspace.settings.oci_layout, "t", None)
    broken["spec"]["runtimeConfig"]["timeoutMs"] = "soon"
    commit(repo, {f"modules/{ns}/rel.yaml": d, f"modules/{ns}/other.yaml": broken})
    assert repo.set_module_ref(f"{ns}/rel", tag=f"{ns}-rel", digest=digest, provenance={}).changed
    rep = reconcile(repo.desired(), host, registry=workspace.settings.registry_base, namespaces={ns})
    assert rep.ok and rep.stalled == [f"{ns}/other"] and served(host, ns) == {"rel": digest}
    with pytest.raises(SpecError, match=rf"modules/{ns}/other.yaml: spec.runtimeConfig.timeoutMs"):
        repo.desired().deployments.get(f"{ns}/other")
    with pytest.raises(SpecError, match="timeoutMs"):
        repo.set_module_ref(f"{ns}/other", tag="x", digest=digest, provenance={})


def test_the_desired_state_is_the_tip_of_main_not_another_branch(workspace, repo, ns):
    before = repo.desired()
    repo.write_files({f"modules/{ns}/elsewhere.yaml": "not: [valid"}, "on a review branch", branch=f"{ns}-review")
    after = repo.desired()
    assert repo.branch == "main" and after.revision == before.revision == repo.repo.heads.main.commit.hexsha
    assert not any(ns in e.file for e in after.errors)
    assert any(ns in e.file for e in repo.desired(f"{ns}-review").errors)
