"""`wasmops render kubernetes` never renders what the hosts do not serve as a whole, and never drops a
prod workload a host keeps serving: a canary in progress is rendered at its stable digest; a prod
manifest pinning a quarantined digest is kept (its last approved, non-quarantined version from Git
history, else as it is with a warning). Manifests are written here, not taken from deployments/."""

from __future__ import annotations

import hashlib

import git
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wasmops.gitops.approved import approved_module_ref
from wasmops.gitops.desired import load_desired_state
from wasmops.gitops.render import render

ACTOR = git.Actor("t", "t@localhost")
FLAVOR = st.sampled_from(["runwasi", "spinkube"])
DIGEST = st.binary(min_size=1, max_size=8).map(lambda b: "sha256:" + hashlib.sha256(b).hexdigest())
NAME = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


def manifest(ns: str, name: str, env: str, tag: str, digest: str, canary: dict | None = None) -> dict:
    spec = {"environment": env, "replicas": 3, "moduleRef": {"repository": f"acme/{name}", "tag": tag, "digest": digest},
            "runtimeConfig": {"env": {"MODE": "x"}}}
    if canary:
        spec["rollout"] = {"strategy": "canary", "steps": [{"weight": canary["weight"] or 1, "pause": "1m"},
                                                            {"weight": 100}], "inProgress": canary}
    return {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p"}}, "spec": spec}


def write(root, doc: dict, quarantine: list[str] = ()) -> str:
    rel = f"modules/{doc['metadata']['namespace']}/{doc['metadata']['name']}.yaml"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(yaml.safe_dump(doc))
    (root / "quarantine.yaml").write_text(yaml.safe_dump({"entries": [{"digest": d, "reason": "bad"}
                                                                      for d in quarantine]}))
    return rel


def workloads(r) -> dict[str, dict]:
    out = {}
    for d in r.docs:
        if d["kind"] in ("Deployment", "SpinApp"):
            spec = d["spec"]
            image = spec["template"]["spec"]["containers"][0]["image"] if d["kind"] == "Deployment" else spec["image"]
            out[f"{d['metadata']['namespace']}/{d['metadata']['name']}"] = {
                "image": image, "digest": d["metadata"]["annotations"]["wasmops.dev/digest"],
                "tag": d["metadata"]["annotations"]["wasmops.dev/tag"], "replicas": spec["replicas"]}
    return out


@settings(max_examples=25, deadline=None)
@given(flavor=FLAVOR, ns=NAME, name=NAME, env=st.sampled_from(["dev", "prod"]), stable=DIGEST, new=DIGEST,
       weight=st.integers(0, 99), step=st.integers(0, 5))
def test_a_canary_in_progress_renders_the_stable_digest(tmp_path_factory, flavor, ns, name, env, stable, new,
                                                        weight, step):
    root = tmp_path_factory.mktemp("git")
    canary = {"stable": {"tag": "v-stable", "digest": stable}, "step": step, "weight": weight}
    write(root, manifest(ns, name, env, "v-canary", new, canary))
    r = render(load_desired_state(root), flavor=flavor, registry="oci://ghcr.io/acme")
    (w,) = workloads(r).values()
    if new == stable:   # a stale record: moduleRef is the stable digest, no canary
        assert w["digest"] == new and not r.held
        return
    assert w["image"].endswith("@" + stable) and w["digest"] == stable and w["tag"] == "v-stable"
    assert new not in yaml.safe_dump_all(r.docs) and w["replicas"] == 3
    (h,) = r.held
    assert h.key == f"{ns}/{name}" and "canary held back" in h.reason and new in h.reason and stable in h.reason
    assert any(line.startswith(f"held {ns}/{name}") and "canary held back" in line for line in r.comments())


def _history(root, docs: list[dict], quarantine: list[str]) -> str:
    """Commit each version of one manifest in turn (the last with the quarantine); its path."""
    repo = git.Repo.init(root, initial_branch="main")
    for i, doc in enumerate(docs):
        rel = write(root, doc, quarantine if i == len(docs) - 1 else [])
        repo.index.add([rel, "quarantine.yaml"])
        repo.index.commit(f"v{i}", author=ACTOR, committer=ACTOR)
    return rel


def _render(root, flavor):
    ds = load_desired_state(root)
    return render(ds, flavor=flavor, registry="oci://ghcr.io/acme",
                  approved_ref=lambda rel, avoid=frozenset(): approved_module_ref(root, rel, avoid=avoid))


@settings(max_examples=15, deadline=None)
@given(flavor=FLAVOR, digests=st.lists(DIGEST, min_size=1, max_size=4, unique=True),
       bad=st.sets(st.integers(0, 3), min_size=1))
def test_prod_pinning_a_quarantined_digest_keeps_its_workload(tmp_path_factory, flavor, digests, bad):
    """History v0..vn; the newest and some others are quarantined. prod: the newest good version, else
    the newest with a warning; dev: skipped."""
    bad = {len(digests) - 1} | {i for i in bad if i < len(digests)}
    quarantine = [digests[i] for i in bad]
    good = [d for d in digests if d not in quarantine]
    for env in ("prod", "dev"):
        root = tmp_path_factory.mktemp(env)
        _history(root, [manifest(env, "web", env, f"v{i}", d) for i, d in enumerate(digests)], quarantine)
        r = _render(root, flavor)
        got = workloads(r).get(f"{env}/web")
        if env == "dev":
            assert got is None and "quarantined digest" in r.skipped[0].reason
        elif good:
            assert got["digest"] == good[-1] and got["image"].endswith("@" + good[-1]) and not r.warnings
            assert digests[-1] in r.held[0].reason and good[-1] in r.held[0].reason
        else:
            assert got["digest"] == digests[-1] and not r.skipped and digests[-1] in r.warnings[0].reason
            assert any(line.startswith("WARNING prod/web") for line in r.comments())


def test_cli_says_the_canary_is_held_back(tmp_path, monkeypatch):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    from wasmops.config import Settings

    gitops = Settings().gitops_dir
    stable, new = "sha256:" + "5" * 64, "sha256:" + "c" * 64
    write(gitops, manifest("edge", "web", "prod", "v2", new, {"stable": {"tag": "v1", "digest": stable},
                                                               "step": 0, "weight": 20}))
    for flavor in ("runwasi", "spinkube"):
        r = CliRunner().invoke(app, ["render", "kubernetes", "--flavor", flavor])
        assert r.exit_code == 0, r.output
        assert f"@{stable}" in r.stdout and f"@{new}" not in r.stdout
        assert "held edge/web" in r.stderr and "canary held back" in r.stderr and new in r.stderr
