"""`wasmops build DIR -o out/x.wasm` (the README's quickstart) with a relative output path.

The compilers run with the module directory as their cwd, so a relative output path reached them
relative to the module, not to where the user typed the command: clang's linker could not open
`out/.greet-c.build-…/greet-c.wasm` and the build failed as "clang rejected the source".
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wasmops.cli import app
from wasmops.supply.build import build
from wasmops.supply.source import load_module_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["greet-c", "sum-wat", "upper-zig"])
@pytest.mark.parametrize("rel", ["built/m.wasm", "a/b/c", "x.wasm"])
def test_relative_out_is_relative_to_the_callers_cwd(name, rel, tmp_path, monkeypatch, settings):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    src = load_module_source(EXAMPLES / name)
    r = build(src, Path(rel), settings=settings, use_cache=False)
    want = cwd / rel if rel.endswith(".wasm") else cwd / rel / f"{name}.wasm"
    assert r.path == want and want.read_bytes()[:4] == b"\0asm"
    assert not any(p.name.endswith(".wasm") for p in (EXAMPLES / name).rglob("*"))


def test_cli_build_with_the_readme_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / ".wasmops"))
    res = CliRunner().invoke(app, ["build", str(EXAMPLES / "greet-c"), "-o", "out/greet.wasm"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "greet.wasm").read_bytes()[:4] == b"\0asm"
