"""Commands that read a workspace, run where there is none: one line naming where the workspace
would be (and the nearest one above), and nothing created.

Found by a tester: in a directory without .wasmops, `status` said "no services running",
`decisions` "no decisions recorded", and `approvals` started a new Prefect database and said "no
pending approvals" while real approvals waited in their workspace; each left ./.wasmops/{logs,run,
prefect} behind, and `wasmops test DIR` left ./.wasmops/cache."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.host import WASMOPS
from support.wasi_wat import argv0_wat

RUN_ID = "0b7f0d5e-1c7e-4b8e-9d0a-1234567890ab"
READS = [("status",), ("status", "--json"), ("decisions",), ("decisions", "show", "dec-x"), ("approvals",),
         ("approve", RUN_ID, "--reason", "x"), ("reject", RUN_ID, "--reason", "x"), ("reconcile", "--dry-run"),
         ("rollback", "dev/x"), ("quarantine", "list"), ("cost", "report"), ("down",), ("models", "compare"),
         ("telemetry", "validate"), ("render", "kubernetes"), ("add", "m", "--target", "dev/m", "--team", "t",
                                                              "--project", "p"), ("release", "m")]


def _run(cwd, *args, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_"))}
    return subprocess.run([WASMOPS, *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


def _tree(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """project/.wasmops (a real workspace) and project/a/b, a directory below it without one."""
    top = tmp_path_factory.mktemp("project")
    assert _run(top, "init").returncode == 0
    below = top / "a" / "b"
    below.mkdir(parents=True)
    (below / "m").mkdir()
    (below / "m" / "argv.wat").write_text(argv0_wat())
    (below / "m" / "module.yaml").write_text("name: m\nlanguage: wat\nsources: [argv.wat]\n"
                                             "tests:\n  - {name: runs, expect_stdout: m}\n")
    return top, below


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_a_read_command_without_a_workspace_says_so_names_the_nearest_and_creates_nothing(project, args):
    top, below = project
    before = _tree(below)
    p = _run(below, *args)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert err[0].startswith(f"error: no workspace at {below / '.wasmops'}"), p.stderr
    assert f"the nearest is {top / '.wasmops'}: run from {top} or set WASMOPS_HOME={top / '.wasmops'}" in err[0]
    assert "`wasmops init` makes one here" in err[0] and len(err) == 2, p.stderr    # the error, the retry advice
    assert p.stdout == ""                                                           # no false all-clear
    assert _tree(below) == before


def test_no_workspace_anywhere_and_a_wasmops_home_that_is_none(tmp_path):
    p = _run(tmp_path, "approvals")
    assert p.returncode == 1 and "nearest" not in p.stderr and "`wasmops init` makes one here" in p.stderr
    p = _run(tmp_path, "status", WASMOPS_HOME=str(tmp_path / "typo"))
    assert p.returncode == 1 and f"no workspace at {tmp_path / 'typo'} (WASMOPS_HOME)" in p.stderr, p.stderr
    assert _tree(tmp_path) == []


def test_wasmops_test_and_build_without_a_workspace_cache_in_the_users_cache_dir(project, tmp_path):
    _, below = project
    before = _tree(below)
    cache = tmp_path / "xdg"
    p = _run(below, "test", "m", XDG_CACHE_HOME=str(cache))
    assert p.returncode == 0 and "pass" in p.stdout, p.stdout + p.stderr
    assert _run(below, "build", "m", "-o", str(tmp_path / "out"), XDG_CACHE_HOME=str(cache)).returncode == 0
    assert _tree(below) == before                                       # no ./.wasmops/cache
    assert list((cache / "wasmops").rglob("*.wasm")), _tree(cache)


def test_commands_that_need_no_workspace_still_work_and_init_makes_one(tmp_path):
    assert _run(tmp_path, "new", "fresh", "--language", "wat").returncode == 0
    assert _run(tmp_path, "check", "--help").returncode == 0
    assert _run(tmp_path, "schema", "-o", str(tmp_path / "schemas")).returncode == 0
    assert not (tmp_path / ".wasmops").exists()
    assert _run(tmp_path, "init").returncode == 0
    p = _run(tmp_path, "decisions")
    assert p.returncode == 0 and "no workspace" not in p.stderr, p.stderr
