"""`wasmops render kubernetes`: the Git desired state as runwasi Deployments or SpinKube SpinApps."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
import yaml

from support.host import REPO, WASMOPS
from wasmops.gitops.desired import DesiredState, load_desired_state
from wasmops.errors import SpecError, UserError
from wasmops.gitops.render import dump_yaml, image_ref, render, render_kubernetes, split_by_namespace
from wasmops.gitops.render_check import SpinApp, problems, typed

D_GREET = "sha256:" + "a" * 64
D_PROD = "sha256:" + "b" * 64
D_BAD = "sha256:" + "c" * 64
LAYOUT = "oci-layout:///var/lib/wasmops/supply/oci"


def _released(ds: DesiredState, key: str, digest: str, **spec) -> None:
    m = ds.deployments[key]
    ref = m.spec.module_ref.model_copy(update={"digest": digest, "tag": "v1"})
    ds.deployments[key] = m.model_copy(update={"spec": m.spec.model_copy(update={"module_ref": ref, **spec})})


@pytest.fixture
def desired() -> DesiredState:
    """deployments/: greet-c released in dev and prod, upper-zig released but quarantined, sum-wat unreleased."""
    ds = load_desired_state(REPO / "deployments")
    _released(ds, "dev/greet-c", D_GREET)
    _released(ds, "prod/greet-c", D_PROD)
    _released(ds, "dev/upper-zig", D_BAD)
    ds.quarantine = {D_BAD}
    return ds


def _kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def test_runwasi_renders_released_modules(desired):
    r = render(desired, flavor="runwasi", registry=LAYOUT)
    rc = _kinds(r.docs, "RuntimeClass")
    assert len(rc) == 1 and rc[0]["metadata"]["name"] == "wasmtime" and rc[0]["handler"] == "wasmtime"
    assert [n["metadata"]["name"] for n in _kinds(r.docs, "Namespace")] == ["dev", "prod"]
    deps = {f"{d['metadata']['namespace']}/{d['metadata']['name']}": d for d in _kinds(r.docs, "Deployment")}
    released = [k for k, m in desired.deployments.items()
                if m.spec.module_ref.digest and m.spec.module_ref.digest not in desired.quarantine]
    assert sorted(deps) == sorted(released) == ["dev/greet-c", "prod/greet-c"]
    assert {s.key: s.reason.split()[0] for s in r.skipped} == {"dev/sum-wat": "unreleased",
                                                              "dev/upper-zig": "quarantined"}

    for key, digest in (("dev/greet-c", D_GREET), ("prod/greet-c", D_PROD)):
        m, d = desired.deployments[key], deps[key]
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert pod["runtimeClassName"] == "wasmtime"
        assert c["image"] == f"registry.local:5000/wasmops/greet-c@{digest}"       # pinned, layout → placeholder host
        assert d["spec"]["replicas"] == m.spec.replicas
        assert c["resources"]["limits"] == {"cpu": m.spec.runtime_config.resources.cpu,
                                            "memory": m.spec.runtime_config.resources.memory}
        assert c["env"] == [{"name": "GREETING", "value": "hello"}]
        labels = d["metadata"]["labels"]
        assert {k: labels[k] for k in ("team", "project", "cost-center")} == \
            {k: m.metadata.labels[k] for k in ("team", "project", "cost-center")}
        assert labels["app.kubernetes.io/name"] == "greet-c"
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        assert d["metadata"]["annotations"]["wasmops.dev/digest"] == digest
        assert d["metadata"]["annotations"]["wasmops.dev/source"] == desired.files[key]
    assert deps["dev/greet-c"]["spec"]["replicas"] == 1 and deps["prod/greet-c"]["spec"]["replicas"] == 2
    assert deps["prod/greet-c"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == \
        {"cpu": "200m", "memory": "32Mi"}
    assert "Service" not in {d["kind"] for d in r.docs}
    assert render_kubernetes(desired, flavor="runwasi", registry=LAYOUT) == r.docs


def test_typed_models_deserialize(desired):
    from kubernetes.client import V1Deployment, V1Namespace, V1RuntimeClass

    docs = render_kubernetes(desired, flavor="runwasi", registry=LAYOUT)
    objs = [typed(d) for d in docs]
    assert [type(o) for o in objs] == [V1RuntimeClass, V1Namespace, V1Namespace, V1Deployment, V1Deployment]
    dep = objs[-1]
    assert dep.spec.replicas == 2 and dep.spec.template.spec.runtime_class_name == "wasmtime"
    assert dep.spec.template.spec.containers[0].resources.limits == {"cpu": "200m", "memory": "32Mi"}
    assert dep.spec.template.spec.containers[0].env[0].name == "GREETING"
    assert all(problems(d) == [] for d in docs)


def test_spinkube_renders_spinapps(desired):
    r = render(desired, flavor="spinkube", registry=LAYOUT)
    assert not _kinds(r.docs, "RuntimeClass") and not _kinds(r.docs, "Deployment")
    apps = _kinds(r.docs, "SpinApp")
    assert [(a["metadata"]["namespace"], a["metadata"]["name"]) for a in apps] == [("dev", "greet-c"), ("prod", "greet-c")]
    a = apps[1]
    assert a["apiVersion"] == "core.spinkube.dev/v1alpha1"
    assert a["spec"]["image"] == f"registry.local:5000/wasmops/greet-c@{D_PROD}"
    assert a["spec"]["executor"] == "containerd-shim-spin" and a["spec"]["replicas"] == 2
    assert a["spec"]["resources"] == {"limits": {"cpu": "200m", "memory": "32Mi"}}
    assert a["spec"]["variables"] == [{"name": "greeting", "value": "hello"}]
    assert a["spec"]["podLabels"]["cost-center"] == "cc-100"
    model = typed(a)
    assert isinstance(model, SpinApp) and model.spec.replicas == 2
    assert {s.key for s in r.skipped} == {"dev/sum-wat", "dev/upper-zig"}


def test_image_refs_per_registry(desired):
    m = desired.deployments["dev/greet-c"]
    assert image_ref(m, "oci://127.0.0.1:5000/team") == f"127.0.0.1:5000/team/wasmops/greet-c@{D_GREET}"
    assert image_ref(m, LAYOUT, "kind-registry:5001") == f"kind-registry:5001/wasmops/greet-c@{D_GREET}"
    full = m.model_copy(update={"spec": m.spec.model_copy(update={"module_ref": m.spec.module_ref.model_copy(
        update={"repository": "oci://ghcr.io/acme/greet"})})})
    assert image_ref(full, LAYOUT) == f"ghcr.io/acme/greet@{D_GREET}"


def _container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0] if doc["kind"] == "Deployment" else doc["spec"]


MUTATIONS = {
    "negative replicas": (lambda d: d["spec"].update(replicas=-1), "spec.replicas"),
    "replicas as a string": (lambda d: d["spec"].update(replicas="2"), "spec.replicas"),
    "unknown field": (lambda d: d["spec"].update(replica=2), "spec.replica"),
    "bad quantity": (lambda d: _container(d)["resources"]["limits"].update(cpu="lots"), "resources.limits.cpu"),
    "unpinned image": (lambda d: _container(d).update(image="ghcr.io/acme/greet:latest"), "image"),
    "bad label value": (lambda d: d["metadata"]["labels"].update(team="core team"), "metadata.labels.team"),
}


@pytest.mark.parametrize("flavor", ["runwasi", "spinkube"])
@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_validation_catches_bad_values(desired, flavor, case):
    from wasmops.gitops.render_check import validate

    doc = copy.deepcopy(render_kubernetes(desired, flavor=flavor, registry=LAYOUT)[-1])   # prod/greet-c
    mutate, field = MUTATIONS[case]
    mutate(doc)
    with pytest.raises(SpecError) as e:
        validate([doc])
    assert e.value.where == "modules/prod/greet-c.yaml"          # the WasmModuleDeployment file
    assert field in str(e.value), str(e.value)


def test_missing_required_field_is_named(desired):
    doc = copy.deepcopy(render_kubernetes(desired, flavor="runwasi", registry=LAYOUT)[-1])
    del doc["spec"]["template"]["spec"]["containers"][0]["name"]
    assert problems(doc) == ["spec.template.spec.containers[0].name: required by V1Container"]


def test_env_that_cannot_be_a_spin_variable(desired):
    _released(desired, "dev/greet-c", D_GREET, runtime_config=desired.deployments["dev/greet-c"].spec.runtime_config
              .model_copy(update={"env": {"MY-VAR": "x"}}))
    render(desired, flavor="runwasi", registry=LAYOUT)       # fine as a container env var
    with pytest.raises(SpecError, match=r"spec\.runtimeConfig\.env\.MY-VAR") as e:
        render(desired, flavor="spinkube", registry=LAYOUT)
    assert e.value.where == "modules/dev/greet-c.yaml"


def test_unknown_flavor_and_nothing_released():
    with pytest.raises(UserError):
        render(DesiredState(revision=None), flavor="docker", registry=LAYOUT)
    r = render(load_desired_state(REPO / "deployments"), flavor="runwasi", registry=LAYOUT)
    assert [d["kind"] for d in r.docs] == ["RuntimeClass"] and len(r.skipped) == 4


def test_dump_yaml_is_multi_document(desired):
    r = render(desired, flavor="runwasi", registry=LAYOUT)
    text = dump_yaml(r.docs, comments=r.comments())
    assert text.startswith("# Generated by `wasmops render kubernetes --flavor runwasi`")
    assert "# skipped dev/upper-zig (modules/dev/upper-zig.yaml): quarantined" in text
    assert text.count("\n---\n") == len(r.docs) and list(yaml.safe_load_all(text)) == r.docs
    parts = split_by_namespace(r.docs)
    assert list(parts) == ["_cluster", "dev", "prod"]
    assert [d["kind"] for d in parts["prod"]] == ["Namespace", "Deployment"]


def test_cli_writes_one_valid_file_per_namespace(tmp_path):
    from wasmops.config import Settings
    from wasmops.workspace import init_workspace

    home = tmp_path / "ws"
    init_workspace(Settings(home=home))
    gitops = home / "gitops"
    for rel, digest in (("modules/dev/greet-c.yaml", D_GREET), ("modules/dev/sum-wat.yaml", D_BAD)):
        doc = yaml.safe_load((gitops / rel).read_text())
        doc["spec"]["moduleRef"].update(tag="v1", digest=digest)
        (gitops / rel).write_text(yaml.safe_dump(doc, sort_keys=False))
    (gitops / "quarantine.yaml").write_text(yaml.safe_dump(
        {"entries": [{"digest": D_BAD, "module": "dev/sum-wat", "reason": "test"}]}))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.yaml").write_text("# Generated by `wasmops render kubernetes --flavor runwasi`\n")
    (tmp_path / "out" / "mine.yaml").write_text("# not generated: kept\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMOPS_")} | {"WASMOPS_HOME": str(home)}

    def run(*args):
        p = subprocess.run([WASMOPS, "render", "kubernetes", *args], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    p = run("-o", str(tmp_path / "out"))
    assert "skipped dev/sum-wat" in p.stdout and "quarantined" in p.stdout
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["_cluster.yaml", "dev.yaml", "mine.yaml"]
    cluster = list(yaml.safe_load_all((tmp_path / "out" / "_cluster.yaml").read_text()))
    dev = list(yaml.safe_load_all((tmp_path / "out" / "dev.yaml").read_text()))
    assert [d["kind"] for d in cluster] == ["RuntimeClass"]
    assert [d["kind"] for d in dev] == ["Namespace", "Deployment"]
    dep = dev[1]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"registry.local:5000/wasmops/greet-c@{D_GREET}"
    assert len(dep["metadata"]["annotations"]["wasmops.dev/revision"].split("-")[0]) == 40
    assert all(problems(d) == [] for d in cluster + dev)
    assert type(typed(dep)).__name__ == "V1Deployment"

    out = run("--flavor", "spinkube", "--image-registry", "kind-registry:5001").stdout
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Namespace", "SpinApp"]
    assert docs[1]["spec"]["image"] == f"kind-registry:5001/wasmops/greet-c@{D_GREET}"
    assert "# skipped dev/upper-zig" in out
