"""The serving processes' sandbox (wasmtime's pooling allocator, exports called through the C API),
in process: a run never sees an earlier run's memory, limits hold, concurrent runs up to the slots."""

from __future__ import annotations

import concurrent.futures as cf

import wasmtime
from hypothesis import given, settings, strategies as st

from wasmops.wasm.sandbox import RunLimits, Sandbox

# Written for this test: prints the byte at offset 4096 of its memory, then leaves its stdin's first
# byte there (a later run that saw it would print it) and grows memory by its stdin's second byte.
PEEK = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 4096)) (i32.store (i32.const 4) (i32.const 1))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 2))
    (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.const 4096) (i32.load8_u (i32.const 64)))
    (drop (memory.grow (i32.load8_u (i32.const 65))))))"""

SB = Sandbox(pool_slots=6)
PREP = SB.load(wasmtime.wat2wasm(PEEK))


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=2, max_size=2))
def test_a_run_never_sees_the_previous_runs_memory(stdin):
    lim = RunLimits(fuel=10**6, memory=8 * 65536)
    first = SB.run(PREP, stdin=stdin, limits=lim)
    second = SB.run(PREP, stdin=b"\x00\x00", limits=lim)
    assert first.stdout == second.stdout == b"\x00"
    grown = 1 + stdin[1]
    if grown <= 8:
        assert first.ok and first.peak_memory == grown * 65536
    else:     # memory.grow past the limit returns -1: the module goes on, memory stays at 1 page
        assert first.ok and first.peak_memory == 65536


def test_concurrent_runs_up_to_the_slots_all_succeed():
    with cf.ThreadPoolExecutor(5) as pool:
        rs = list(pool.map(lambda i: SB.run(PREP, stdin=bytes([i % 256, 1])), range(200)))
    assert all(r.ok and r.stdout == b"\x00" and r.peak_memory == 2 * 65536 for r in rs)
    assert SB.pooling


def test_limits_hold_under_pooling():
    loop = SB.load(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))'))
    assert SB.run(loop, limits=RunLimits(fuel=10**6)).reason == "out_of_fuel"
    assert SB.run(loop, limits=RunLimits(fuel=10**15, timeout_ms=50)).reason == "timeout"
    exit3 = SB.load(wasmtime.wat2wasm("""(module (import "wasi_snapshot_preview1" "proc_exit" (func $x (param i32)))
      (memory (export "memory") 1) (func (export "_start") (call $x (i32.const 3))))"""))
    r = SB.run(exit3)
    assert (r.exit_code, r.reason) == (3, "exit_nonzero")
