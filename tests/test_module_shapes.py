"""Modules of shapes a user brought (an outside-in try), judged the same by `check` (policy), a
prebuilt build, `wasmops test` (an unpooled sandbox) and the host (a pooled one).

Before: four memories each grown past a 4 MiB cap ran with exit 0 and reported 64 KiB; a table of
10 million elements passed check and test and was then refused by the host as "not a valid wasm
module"; shared memory passed check and trapped at run; a component or a .wat file given to
`check` got a message naming neither the file nor what it was."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.errors import BuildFailed, SandboxError, SpecError
from wasmops.supply.build._validate import validate_wasm
from wasmops.supply.policy import check_module
from wasmops.wasm.sandbox import RunLimits, Sandbox
from wasmops.wasm.shape import TABLE_ELEMENTS

START = '(func (export "_start"))'
MULTI = wat2wasm(f'(module (memory 1) (memory $b 1) (memory $c 1) {START})')
SHARED = wat2wasm(f'(module (memory (export "memory") 1 1 shared) {START})')
BIG_TABLE = wat2wasm(f'(module (memory (export "memory") 1) (table 10000000 funcref) {START})')


@pytest.fixture(scope="module")
def sandboxes():
    unpooled, pooled = Sandbox(), Sandbox(pool_slots=2)
    yield {"unpooled": unpooled, "pooled": pooled}
    unpooled.close()
    pooled.close()


@pytest.mark.parametrize("wasm, says", [(MULTI, "more than one memory (multi-memory)"),
                                        (SHARED, "shared memory"),
                                        (BIG_TABLE, f"a table of 10000000 elements: the host allows at most {TABLE_ELEMENTS}")])
def test_what_the_host_cannot_run_is_refused_alike_everywhere_naming_the_file(sandboxes, wasm, says):
    with pytest.raises(SpecError, match="m.wasm: .*" + says.replace("(", r"\(").replace(")", r"\)")):
        check_module(wasm, "trusted", where="m.wasm")
    with pytest.raises(BuildFailed, match=says.replace("(", r"\(").replace(")", r"\)")):
        validate_wasm(wasm, where="m.wasm")
    for sb in sandboxes.values():
        with pytest.raises(SpecError, match="m.wasm: .*" + says.replace("(", r"\(").replace(")", r"\)")):
            sb.load(wasm, where="m.wasm")


def _grower(initial: int, grow: int) -> bytes:
    """Grows its table by ``grow`` and exits 1 if refused (-1), else 0."""
    return wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1) (table {initial} funcref)
      (func (export "_start")
        (call $exit (i32.eq (table.grow (ref.null func) (i32.const {grow})) (i32.const -1)))))""")


@settings(max_examples=20, deadline=None)
@given(initial=st.integers(0, TABLE_ELEMENTS), grow=st.integers(0, 3 * TABLE_ELEMENTS))
def test_table_grow_past_the_cap_fails_the_same_pooled_or_not(sandboxes, initial, grow):
    wasm = _grower(initial, grow)
    codes = {name: sb.run(sb.load(wasm), limits=RunLimits(fuel=10**7)).exit_code for name, sb in sandboxes.items()}
    assert codes == {"unpooled": int(initial + grow > TABLE_ELEMENTS), "pooled": int(initial + grow > TABLE_ELEMENTS)}


def test_a_component_and_a_wat_file_are_named_for_what_they_are():
    # A component is read (WASI 0.2 commands run: tests/test_components.py); one exporting nothing is no command.
    v = check_module(b"\0asm\x0d\x00\x01\x00", "sandboxed", where="c.wasm")
    assert not v.allowed and "a WASI 0.2 component that exports nothing, not wasi:cli/run@0.2.x" in v.reasons[0]
    with pytest.raises(SpecError, match=r"c.wasm: a WebAssembly component of another version 0e 00 01 00, neither a core module") as e:
        check_module(b"\0asm\x0e\x00\x01\x00", "sandboxed", where="c.wasm")
    assert "wasip2" in e.value.hint
    with pytest.raises(SpecError, match=r"main.wat: not a WebAssembly binary.*\(it is WebAssembly text\)") as e:
        check_module(b'(module (func (export "_start")))', "sandboxed", where="main.wat")
    assert "language: wat" in e.value.hint


def test_a_reactor_is_named_as_one(sandboxes):
    reactor = wat2wasm('(module (memory (export "memory") 1) (func (export "_initialize")) (func (export "add")))')
    with pytest.raises(SandboxError, match=r"lib: the module has no _start export.*a WASI reactor"):
        sandboxes["unpooled"].load(reactor, where="lib")
