"""`wasmops add`'s spec.source, and `wasmops reconcile`'s drift count.

A tester ran `add` in a clone of a local repository, on a module never committed there, and got
`spec.source: /work/main//ws/jsonsum`: a path of their machine, joined with a double slash, naming
a directory that repository does not hold. A source is ``<origin>//<path>`` only when origin is a
remote and the module is committed there as it is; else a path relative to the GitOps repo.
The same tester saw "drift detected in 2 module(s)" for one module with two changed fields."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from support.cli_ws import CliWorkspace
from support.host import WASMOPS
from support.wasi_wat import argv0_wat
from wasmops.onboard import source_location


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@x", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def _module(d):
    d.mkdir(parents=True)
    (d / "argv.wat").write_text(argv0_wat())
    (d / "module.yaml").write_text("name: jsonsum\nlanguage: wat\nsources: [argv.wat]\n"
                                   "tests:\n  - {name: runs, expect_stdout: jsonsum}\n")


@pytest.fixture
def checkout(tmp_path):
    """A checkout with one commit, holding mods/jsonsum; origin is set by each test."""
    co = tmp_path / "checkout"
    _module(co / "mods" / "jsonsum")
    git(tmp_path, "init", "-q", "-b", "main", str(co))
    git(co, "add", ".")
    git(co, "commit", "-q", "-m", "jsonsum")
    (tmp_path / "gitops").mkdir()
    return co


@pytest.mark.parametrize("origin", ["https://git.example/team/mods.git", "https://git.example/team/mods/",
                                    "git@git.example:team/mods.git", "ssh://git@git.example/team/mods.git"])
def test_a_committed_module_of_a_remote_is_origin_and_path(checkout, origin):
    git(checkout, "remote", "add", "origin", origin)
    got = source_location(checkout / "mods" / "jsonsum", checkout.parent / "gitops")
    assert got == f"{origin.rstrip('/')}//mods/jsonsum"
    assert got.count("//") == 1 + ("://" in origin)              # the one separator, never another
    assert source_location(checkout, checkout.parent / "gitops") == origin.rstrip("/")


@pytest.mark.parametrize("origin", ["{tmp}/main", "../main", "file://{tmp}/main"])
def test_an_origin_on_this_machine_gives_a_relative_path(checkout, tmp_path, origin):
    git(checkout, "remote", "add", "origin", origin.format(tmp=tmp_path))
    assert source_location(checkout / "mods" / "jsonsum", tmp_path / "gitops") == "../checkout/mods/jsonsum"


@pytest.mark.parametrize("change", ["untracked", "modified"])
def test_a_module_the_remote_does_not_hold_as_it_is_gives_a_relative_path(checkout, tmp_path, change):
    git(checkout, "remote", "add", "origin", "https://git.example/team/mods.git")
    d = checkout / "mods" / "jsonsum"
    if change == "untracked":
        d = checkout / "ws" / "other"
        _module(d)
    else:
        (d / "module.yaml").write_text((d / "module.yaml").read_text() + "# edited\n")
    assert source_location(d, tmp_path / "gitops") == f"../checkout/{d.relative_to(checkout).as_posix()}"


def test_add_in_a_clone_of_a_local_repo_writes_a_relative_source(tmp_path):
    """The tester's layout: a clone of a local repository, the workspace and an uncommitted module in it."""
    main = tmp_path / "main"
    (main / "README").parent.mkdir()
    (main / "README").write_text("x\n")
    git(tmp_path, "init", "-q", "-b", "main", str(main))
    git(main, "add", ".")
    git(main, "commit", "-q", "-m", "x")
    git(tmp_path, "clone", "-q", str(main), "clone")
    clone = tmp_path / "clone"
    _module(clone / "ws" / "jsonsum")
    ws = CliWorkspace(clone / ".wasmops", clone)
    ws("init", check=0)
    ws("add", "ws/jsonsum", "--target", "dev/jsonsum", "--team", "qa", "--project", "p", check=0)
    doc = yaml.safe_load((clone / ".wasmops" / "gitops" / "modules" / "dev" / "jsonsum.yaml").read_text())
    assert doc["spec"]["source"] == "../../ws/jsonsum"
    assert (clone / ".wasmops" / "gitops" / doc["spec"]["source"] / "module.yaml").exists()


def test_reconcile_counts_modules_not_changed_fields(workspace, host):
    from wasmops.gitops.repo import GitOpsRepo

    ref, digest = workspace.publish_wat("drift-a", argv0_wat())
    _, other = workspace.publish_wat("drift-b", argv0_wat().replace("(i32.const 10)", "(i32.const 33)"))
    doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
           "metadata": {"name": "drifty", "namespace": "drift", "labels": {"team": "qa", "project": "p"}},
           "spec": {"moduleRef": {"repository": f"oci-layout://{workspace.settings.oci_layout}", "tag": "drift-a",
                                  "digest": digest},
                    "runtimeConfig": {"resources": {"cpu": "50m", "memory": "2Mi"}, "env": {"E": "git"}}}}
    GitOpsRepo.from_settings(workspace.settings).write_files({"modules/drift/drifty.yaml": yaml.safe_dump(doc)},
                                                              "add drift/drifty")
    env = {**workspace.env, "WASMOPS_HOST_URL": host.url, "COLUMNS": "200"}
    run = lambda *a: subprocess.run([WASMOPS, "reconcile", "-n", "drift", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120)
    assert run().returncode == 0
    host.deploy("drift", "drifty", ref=f"oci-layout://{workspace.settings.oci_layout}:drift-b", digest=other,
                env={"E": "hand"}, labels={"team": "qa", "project": "p"})       # two fields changed by hand
    p = run("--mode", "report")
    fields = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("- drift/drifty:")]
    assert len(fields) >= 2, p.stdout
    assert "drift detected in 1 module:" in " ".join(p.stdout.split()), p.stdout
