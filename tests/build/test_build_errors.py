"""Failures say what went wrong, where, and what to install or fix."""

import sys
from pathlib import Path

import pytest

from wasmops.supply.build import _run, _toolchain, build, c, detect_toolchains
from wasmops.supply.build._toolchain import BuildContext
from wasmops.errors import BuildFailed, SpecError, ToolchainMissing
from wasmops.supply.source import ModuleSource, load_module_source


def module(tmp_path, language, files, name="m"):
    d = tmp_path / name
    d.mkdir()
    for rel, text in files.items():
        (d / rel).write_bytes(text if isinstance(text, bytes) else text.encode())
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: {language}\nsources: [{', '.join(files)}]\n")
    return load_module_source(d)


def test_c_syntax_error_names_the_file_and_line(tmp_path, settings):
    src = module(tmp_path, "c", {"broken.c": "int main(void) {\n  return 0\n}\n"})
    with pytest.raises(BuildFailed) as e:
        build(src, tmp_path / "out", settings=settings)
    err = e.value
    assert err.where.startswith(str(src.root / "broken.c") + ":")
    assert "broken.c" in str(err) and "error" in err.message and "expected ';'" in err.message
    assert str(tmp_path) not in err.message  # diagnostics are trimmed to module-relative paths
    assert not err.retryable
    assert not (tmp_path / "out" / "m.wasm").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no temp files left behind


def test_zig_compile_error_names_the_file(tmp_path, settings):
    src = module(tmp_path, "zig", {"main.zig": "pub fn main() void {\n    const x: u8 = 300;\n}\n"})
    with pytest.raises(BuildFailed) as e:
        build(src, tmp_path / "out", settings=settings)
    assert e.value.where.startswith(str(src.root / "main.zig") + ":2:")
    assert "main.zig" in str(e.value)


def test_wat_error_names_file_and_line(tmp_path, settings):
    src = module(tmp_path, "wat", {"bad.wat": "(module\n  (func\n    (i32.add oops)))\n"})
    with pytest.raises(BuildFailed) as e:
        build(src, tmp_path / "out", settings=settings)
    assert e.value.where == f"{src.root / 'bad.wat'}:3:14"
    assert "bad.wat:3:14" in e.value.message


@pytest.mark.parametrize("content,why", [
    (b"(module)\n", "not a WebAssembly binary"),
    (b"", "not a WebAssembly binary"),
    (b"\0asm\x0d\x00\x01\x00", "a WASI 0.2 component that exports nothing, not wasi:cli/run"),
    (b"\0asm\x01\x00\x00\x00\x01\xff", "not a valid wasm module"),
])
def test_prebuilt_that_is_not_a_core_module_is_rejected(tmp_path, settings, content, why):
    src = module(tmp_path, "prebuilt", {"m.wasm": content})
    with pytest.raises(BuildFailed, match=why) as e:
        build(src, tmp_path / "out", settings=settings)
    assert e.value.where == str(src.root / "m.wasm")


def test_missing_zig_and_clang_raise_toolchain_missing_with_a_hint(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(_toolchain, "zig_command", lambda: None)
    monkeypatch.setattr(_toolchain, "find_clang_wasi", lambda: None)
    monkeypatch.delenv("WASMOPS_C_TOOLCHAIN", raising=False)
    for lang, f in (("c", "a.c"), ("zig", "a.zig")):
        src = module(tmp_path, lang, {f: ""}, name=f"m{lang}")
        with pytest.raises(ToolchainMissing) as e:
            build(src, tmp_path / "out", settings=settings, use_cache=False)
        assert "pip install ziglang" in e.value.hint and "installed" in e.value.message
        assert e.value.where == str(src.root / "module.yaml")
        if lang == "c":
            assert "wasi-libc" in e.value.hint
    found = detect_toolchains(settings)
    assert not found["c"]["available"] and "wasi-libc" in found["c"]["hint"]
    assert not found["zig"]["available"] and found["wat"]["available"]


def test_c_prefers_clang_with_wasi_libc_when_present(monkeypatch):
    monkeypatch.delenv("WASMOPS_C_TOOLCHAIN", raising=False)
    monkeypatch.setattr(_toolchain, "find_clang_wasi", lambda: ("/usr/bin/clang", "/usr/share/wasi-sysroot", "19.1.7"))
    tc = c.find_toolchain()
    assert str(tc) == "clang 19.1.7" and tc.argv == ("/usr/bin/clang",)
    src = ModuleSource(name="m", language="c", sources=["m.c"], flags=["-DX=1"])
    assert c.flags(src, tc)[:2] == ["--target=wasm32-wasi", "--sysroot=/usr/share/wasi-sysroot"]
    assert c.flags(src, tc)[-1] == "-DX=1"
    monkeypatch.setenv("WASMOPS_C_TOOLCHAIN", "zig")
    assert c.find_toolchain().name == "zig cc"
    monkeypatch.setenv("WASMOPS_C_TOOLCHAIN", "clang")
    monkeypatch.setattr(_toolchain, "find_clang_wasi", lambda: None)
    with pytest.raises(ToolchainMissing, match="clang"):
        c.find_toolchain()


def test_unknown_language_and_bad_sources_are_spec_errors(tmp_path, settings):
    src = ModuleSource.model_construct(name="m", language="rust", sources=["m.rs"], flags=[], tests=[],
                                       root=tmp_path)
    with pytest.raises(SpecError, match="unknown language 'rust'") as e:
        build(src, tmp_path / "out", settings=settings)
    assert "c, zig, wat, prebuilt" in e.value.hint
    (tmp_path / "secret.wat").write_text("(module)")
    (tmp_path / "inner").mkdir()
    escaping = ModuleSource(name="m", language="wat", sources=["../secret.wat"], root=tmp_path / "inner")
    with pytest.raises(SpecError, match="inside the module directory"):
        build(escaping, tmp_path / "out", settings=settings)
    with pytest.raises(SpecError, match="no directory"):
        build(ModuleSource(name="m", language="wat", sources=["m.wat"]), tmp_path / "out", settings=settings)


def test_a_hanging_compiler_is_stopped_at_the_timeout(tmp_path, settings):
    said = []
    ctx = BuildContext(settings=settings, progress=said.append, timeout_s=0.6, heartbeat_s=0.2)
    hang = [sys.executable, "-c", "import select; print('working', flush=True); select.select([], [], [])"]
    with pytest.raises(BuildFailed, match="did not finish within 0.6 s") as e:
        _run.run_tool(hang, cwd=tmp_path, ctx=ctx, label="fake cc", where=tmp_path / "m.c")
    assert e.value.where == str(tmp_path / "m.c") and "working" in e.value.message
    assert any(m.startswith("still running fake cc") for m in said)


def test_a_vanished_compiler_binary_is_toolchain_missing(tmp_path, settings):
    ctx = BuildContext(settings=settings)
    with pytest.raises(ToolchainMissing):
        _run.run_tool([str(tmp_path / "no-such-cc")], cwd=tmp_path, ctx=ctx, label="cc", where=tmp_path / "m.c")


def test_long_diagnostics_are_trimmed():
    text = "\n".join(f"/abs/mod/f.c:{i}:1: error: bad" for i in range(100))
    out = _run.trim_diagnostics(text, Path("/abs/mod"))
    assert out.count("\n") <= _run.MAX_LINES and "(60 more lines)" in out and "/abs/mod" not in out
