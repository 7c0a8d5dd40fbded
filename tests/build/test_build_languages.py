"""Each language builds to a valid module; the examples pass their own test cases in wasmtime."""

from pathlib import Path

import pytest
import wasmtime

from wasmops.supply.build import BuildResult, _toolchain, build, detect_toolchains, output_path
from wasmops.supply.source import load_module_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "module.yaml").is_file())
LANGUAGE_OF = {"greet-c": "c", "sum-wat": "wat", "upper-zig": "zig"}


def test_every_language_has_an_example():
    assert {load_module_source(EXAMPLES / n).language for n in EXAMPLE_NAMES} >= {"c", "wat", "zig"}
    assert set(LANGUAGE_OF) <= set(EXAMPLE_NAMES)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_builds_to_a_valid_module(name, tmp_path, settings):
    src = load_module_source(EXAMPLES / name)
    r = build(src, tmp_path / "out", settings=settings)
    assert isinstance(r, BuildResult) and not r.cached
    assert r.path == tmp_path / "out" / f"{name}.wasm"
    data = r.path.read_bytes()
    assert data[:4] == b"\0asm" and r.size == len(data)
    wasmtime.Module.validate(wasmtime.Engine(), data)
    import hashlib
    assert r.sha256 == hashlib.sha256(data).hexdigest() and r.digest == f"sha256:{r.sha256}"
    assert r.language == src.language and r.duration_s >= 0
    assert r.toolchain.split()[-1][0].isdigit()  # "zig cc 0.17.1", "wasmtime.wat2wasm 50.0.1"
    # the output appears atomically: no temp files beside it, nothing written into the sources
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{name}.wasm"]
    assert not (EXAMPLES / name / ".zig-cache").exists()
    assert "_start" in [e.name for e in wasmtime.Module(wasmtime.Engine(), data).exports]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_passes_its_own_test_cases(name, tmp_path, settings, run_wasi):
    src = load_module_source(EXAMPLES / name)
    assert 2 <= len(src.tests) <= 4
    assert any(t.expect_stdout is not None for t in src.tests)
    assert any(t.expect_stdout_contains is not None for t in src.tests)
    assert any(t.expect_exit != 0 for t in src.tests)
    wasm = build(src, tmp_path, settings=settings).path.read_bytes()
    for case in src.tests:
        run = run_wasi(wasm, case.stdin, case.env, case.args)
        assert run.exit_code == case.expect_exit, (case.name, run)
        if case.expect_stdout is not None:
            assert run.stdout.rstrip("\n") == case.expect_stdout.rstrip("\n"), (case.name, run)
        if case.expect_stdout_contains is not None:
            assert case.expect_stdout_contains in run.stdout, (case.name, run)
        if case.expect_exit != 0:
            assert run.stderr.strip() or case.name == "negative-number-rejected", (case.name, run)


STDIO_ONLY = {"fd_read", "fd_write", "fd_close", "fd_seek", "fd_fdstat_get", "proc_exit",
              "environ_get", "environ_sizes_get", "args_get", "args_sizes_get"}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_import_only_stdio_level_wasi(name, tmp_path, settings):
    """No filesystem, socket or poll imports, so the examples pass the strictest trust level."""
    wasm = build(load_module_source(EXAMPLES / name), tmp_path, settings=settings).path.read_bytes()
    imports = wasmtime.Module(wasmtime.Engine(), wasm).imports
    assert {i.module for i in imports} == {"wasi_snapshot_preview1"}
    assert {i.name for i in imports} <= STDIO_ONLY, name


def test_output_path_is_a_file_or_a_directory(tmp_path, settings):
    src = load_module_source(EXAMPLES / "sum-wat")
    assert output_path(src, tmp_path / "x.wasm") == tmp_path / "x.wasm"
    assert output_path(src, tmp_path / "dir") == tmp_path / "dir" / "sum-wat.wasm"
    r = build(src, tmp_path / "named.wasm", settings=settings)
    assert r.path == tmp_path / "named.wasm" and r.path.is_file()
    (tmp_path / "named.wasm").write_bytes(b"stale")  # an existing output is replaced
    assert build(src, tmp_path / "named.wasm", settings=settings, use_cache=False).path.read_bytes()[:4] == b"\0asm"


def test_new_c_module_with_two_files_and_a_header(tmp_path, settings, run_wasi):
    d = tmp_path / "adder"
    d.mkdir()
    (d / "add.h").write_text("int add(int a, int b);\n#define GREETING \"sum\"\n")
    (d / "add.c").write_text('#include "add.h"\nint add(int a, int b) { return a + b; }\n')
    (d / "main.c").write_text('#include <stdio.h>\n#include "add.h"\n'
                              'int main(void) { printf("{\\"%s\\": %d}\\n", GREETING, add(2, 40)); return 3; }\n')
    (d / "module.yaml").write_text("name: adder\nlanguage: c\nsources: [main.c, add.c]\nflags: [-Wall, -Werror]\n")
    r = build(load_module_source(d), tmp_path / "out", settings=settings)
    run = run_wasi(r.path.read_bytes())
    assert (run.exit_code, run.stdout) == (3, '{"sum": 42}\n')


def test_new_zig_module_importing_a_second_file(tmp_path, settings, run_wasi):
    d = tmp_path / "zmod"
    (d / "lib").mkdir(parents=True)
    (d / "lib" / "answer.zig").write_text("pub fn answer() u8 { return 42; }\n")
    (d / "app.zig").write_text(
        'const std = @import("std");\nconst a = @import("lib/answer.zig");\n'
        "pub fn main(init: std.process.Init) !u8 {\n"
        "    var buf: [64]u8 = undefined;\n"
        "    var w = std.Io.File.stdout().writerStreaming(init.io, &buf);\n"
        '    try w.interface.print("{{\\"answer\\": {d}}}\\n", .{a.answer()});\n'
        "    try w.interface.flush();\n"
        "    return 0;\n}\n")
    (d / "module.yaml").write_text("name: zmod\nlanguage: zig\nsources: [app.zig, lib/answer.zig]\n")
    r = build(load_module_source(d), tmp_path / "out", settings=settings)
    run = run_wasi(r.path.read_bytes())
    assert (run.exit_code, run.stdout) == (0, '{"answer": 42}\n')
    assert not (d / ".zig-cache").exists() and not (d / "zig-out").exists()


def test_new_wat_module(tmp_path, settings, run_wasi):
    d = tmp_path / "exit5"
    d.mkdir()
    (d / "m.wat").write_text('(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))\n'
                             '  (memory (export "memory") 1)\n'
                             '  (func (export "_start") (call $exit (i32.const 5))))\n')
    (d / "module.yaml").write_text("name: exit5\nlanguage: wat\nsources: [m.wat]\n")
    r = build(load_module_source(d), tmp_path / "out", settings=settings)
    assert run_wasi(r.path.read_bytes()).exit_code == 5


def test_prebuilt_is_copied_byte_for_byte(tmp_path, settings):
    wasm = build(load_module_source(EXAMPLES / "sum-wat"), tmp_path / "a", settings=settings)
    d = tmp_path / "pre"
    d.mkdir()
    (d / "sum.wasm").write_bytes(wasm.path.read_bytes())
    (d / "module.yaml").write_text("name: pre\nlanguage: prebuilt\nsources: [sum.wasm]\n")
    r = build(load_module_source(d), tmp_path / "b", settings=settings)
    assert (r.sha256, r.language, r.toolchain) == (wasm.sha256, "prebuilt", "copy 1")


def test_detect_toolchains_and_progress(tmp_path, settings):
    found = detect_toolchains(settings)
    assert set(found) == {"c", "zig", "wat", "prebuilt"}
    assert all(v["available"] for v in found.values()), found
    assert found["zig"]["toolchain"].startswith("zig build-exe ")
    assert found["c"]["toolchain"].startswith(("zig cc ", "clang "))
    said = []
    build(load_module_source(EXAMPLES / "upper-zig"), tmp_path, settings=settings, progress=said.append)
    assert any("building upper-zig" in m for m in said)


@pytest.mark.skipif(_toolchain.find_clang_wasi() is None, reason="clang + wasi-libc not installed")
def test_clang_and_zig_cc_both_build_the_c_example(tmp_path, settings, run_wasi, monkeypatch):
    src = load_module_source(EXAMPLES / "greet-c")
    for choice in ("clang", "zig"):
        monkeypatch.setenv("WASMOPS_C_TOOLCHAIN", choice)      # read into Settings.c_toolchain
        r = build(src, tmp_path / choice, settings=type(settings)(home=settings.home, zig_cache=settings.zig_cache))
        assert r.toolchain.startswith("clang " if choice == "clang" else "zig cc ")
        run = run_wasi(r.path.read_bytes(), '{"who": "cy"}')
        assert (run.exit_code, run.stdout) == (0, '{"msg": "hello cy"}\n')
