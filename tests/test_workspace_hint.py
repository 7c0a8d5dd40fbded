"""A command run outside its workspace's directory names the nearest workspace, not just `init`."""

import os
import subprocess

from support.host import WASMOPS


def _run(cwd, *args):
    env = {k: v for k, v in os.environ.items() if k != "WASMOPS_HOME"}
    return subprocess.run([WASMOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _module(d):
    (d / "mod").mkdir(parents=True)
    (d / "mod" / "module.yaml").write_text("name: m\nlanguage: wat\nsources: [m.wat]\n")
    (d / "mod" / "m.wat").write_text('(module (func (export "_start")))')


def test_a_subdirectory_of_the_workspace_names_the_workspace(tmp_path):
    top = tmp_path / "project"
    _module(top / "mods" / "deeper")
    assert _run(top, "init").returncode == 0
    p = _run(top / "mods" / "deeper", "add", "mod", "--target", "dev/m", "--team", "t", "--project", "p")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"the nearest is {top / '.wasmops'}" in " ".join(p.stderr.split()), p.stderr


def test_no_workspace_anywhere_says_init(tmp_path):
    _module(tmp_path)
    p = _run(tmp_path, "add", "mod", "--target", "dev/m", "--team", "t", "--project", "p")
    assert p.returncode == 1 and "wasmops init" in p.stderr and "nearest" not in p.stderr, p.stderr
