"""The shared sandbox: limits turn hostile modules into clear reasons, never hangs."""

import time

import pytest

from support.wat import hostile
from wasmops.wasm.sandbox import RunLimits, Sandbox


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def run(sb, name, **kw):
    limits = RunLimits(**{"fuel": 10**8, "timeout_ms": 300, "memory": 4 * 2**20, **kw})
    return sb.run(sb.load(hostile(name)), limits=limits)


def test_well_behaved_module_writes_stdout_and_reports_usage(sb):
    r = run(sb, "ok")
    assert r.ok and r.exit_code == 0
    assert r.stdout == b'{"ok":true}'
    assert r.fuel_used > 0
    assert r.peak_memory == 65536


def test_infinite_loop_runs_out_of_fuel(sb):
    r = run(sb, "loop", fuel=1_000_000, timeout_ms=10_000)
    assert r.reason == "out_of_fuel"
    assert r.fuel_used == 1_000_000


def test_infinite_loop_hits_wall_clock_deadline(sb):
    t0 = time.perf_counter()
    r = run(sb, "loop", fuel=10**15, timeout_ms=200)
    assert r.reason == "timeout"
    assert time.perf_counter() - t0 < 2.0


def test_memory_growth_is_refused_at_the_limit(sb):
    r = run(sb, "grow", memory=2 * 2**20)
    assert r.reason == "memory_limit"
    assert 2 * 2**20 - 16 * 65536 <= r.peak_memory <= 2 * 2**20


def test_unbounded_recursion_overflows_the_stack(sb):
    r = run(sb, "recurse")
    assert r.reason == "stack_overflow"


def test_stdout_is_bounded(sb):
    r = run(sb, "flood", max_stdout=1 * 2**20, timeout_ms=5000, fuel=10**9)
    assert r.reason == "stdout_limit"
    assert len(r.stdout) == 1 * 2**20


def test_non_zero_exit_is_reported_with_its_code(sb):
    r = run(sb, "exit7")
    assert r.exit_code == 7 and r.reason == "exit_nonzero"
    assert not r.ok


def test_stdin_env_and_args_reach_the_module(sb):
    import wasmtime

    wat = """(module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1000))
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
    prep = sb.load(wasmtime.wat2wasm(wat))
    r = sb.run(prep, stdin=b'{"who":"ann"}')
    assert r.stdout == b'{"who":"ann"}'


def test_compile_cache_avoids_recompiling(tmp_path):
    wasm = hostile("ok")
    a = Sandbox(cache_dir=tmp_path)
    a.load(wasm)
    assert a.compiles == 1 and len(list(tmp_path.glob("*.cwasm"))) == 1
    b = Sandbox(cache_dir=tmp_path)
    prep = b.load(wasm)
    assert b.compiles == 0
    assert b.run(prep).stdout == b'{"ok":true}'
    a.close(), b.close()


def test_invalid_wasm_is_a_spec_error(sb):
    from wasmops.errors import SpecError

    with pytest.raises(SpecError, match="bad.wasm: binary version 20 67 61 72, neither a core module"):
        sb.load(b"\x00asm garbage", where="bad.wasm")
    with pytest.raises(SpecError, match="bad.wasm: not a valid wasm module"):
        sb.load(b"\x00asm\x01\x00\x00\x00garbage", where="bad.wasm")
