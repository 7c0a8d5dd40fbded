"""A run that writes past its stdout cap is stopped there, not left running until its deadline.

The modules are written here: each writes ``chunk`` bytes per ``fd_write`` until it has written
``total`` bytes, then either spins forever or keeps writing forever. Their deadline is a minute, so a
run that was not stopped at its cap would end as a timeout-length run; the tests wait only for the
run to return.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
import wasmtime

from wasmops.wasm.sandbox import RunLimits, Sandbox

MINUTE_MS = 60_000


def writer_wat(chunk: int, total: int, then: str) -> str:
    """Write ``total`` bytes in ``chunk``-byte writes, then ``then``: "spin" or "write" forever."""
    after = "(loop $s (br $s))" if then == "spin" else \
        "(loop $f (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (br $f))"
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $left i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const {chunk}))
    (local.set $left (i32.const {total}))
    (block $done (loop $l
      (br_if $done (i32.le_s (local.get $left) (i32.const 0)))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $left (i32.sub (local.get $left) (i32.const {chunk})))
      (br $l)))
    {after}))"""


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def run(sb, wat: str, cap: int):
    limits = RunLimits(fuel=10**15, timeout_ms=MINUTE_MS, memory=4 * 2**20, max_stdout=cap)
    return sb.run(sb.load(wasmtime.wat2wasm(wat)), limits=limits)


@pytest.mark.parametrize("then", ["spin", "write"])
def test_a_run_past_its_stdout_cap_stops_long_before_its_deadline(sb, then):
    r = run(sb, writer_wat(4096, 64 * 1024, then), cap=16 * 1024)
    assert r.reason == "stdout_limit", r.message
    assert len(r.stdout) == 16 * 1024
    assert r.duration_s < MINUTE_MS / 1000 / 4      # stopped at its cap, not at its deadline


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1, 60_000), cap=st.integers(1, 200_000), then=st.sampled_from(["spin", "write"]))
def test_generated_writers_end_at_their_cap_with_exactly_the_cap(sb, chunk, cap, then):
    r = run(sb, writer_wat(chunk, cap + 1, then), cap=cap)
    assert r.reason == "stdout_limit", r.message
    assert r.stdout == bytes(len(r.stdout)) and len(r.stdout) == cap   # memory is zeros: what it wrote
    assert r.duration_s < MINUTE_MS / 1000 / 4


def test_a_run_under_its_cap_that_spins_still_times_out_as_a_timeout(sb):
    limits = RunLimits(fuel=10**15, timeout_ms=120, memory=4 * 2**20, max_stdout=1024)
    r = sb.run(sb.load(wasmtime.wat2wasm(writer_wat(100, 500, "spin"))), limits=limits)
    assert r.reason == "timeout" and r.message.startswith("wall-clock deadline exceeded: the run took more than its "
                                                          "limit of 120 ms")
    assert r.stdout == bytes(500)
