"""Was it the memory cap? A refused ``memory.grow`` only returns -1 to the guest, which then exits or
traps its own way, often megabytes below the cap (Go's runtime asks for 4 MiB blocks; Rust's
allocator doubles). Modules written here grow in steps drawn by hypothesis and fail the way Go (exit
2) or Rust (a trap) do; the sandbox must name ``memory_limit`` exactly when a grow was refused, and
never when a run near its cap exits non-zero on its own."""

from __future__ import annotations

import pytest
import wasmtime
from hypothesis import example, given, settings, strategies as st

from wasmops.wasm.sandbox import RunLimits, Sandbox

PAGE = 65536


def grower(initial: int, step: int, steps: int, on_refused: str, final_exit: int) -> bytes:
    refused = "(call $exit (i32.const 2))" if on_refused == "exit" else "unreachable"
    return wasmtime.wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") {initial})
      (func (export "_start") (local $i i32)
        (block $done (loop $l
          (br_if $done (i32.ge_u (local.get $i) (i32.const {steps})))
          (if (i32.eq (memory.grow (i32.const {step})) (i32.const -1)) (then {refused}))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (call $exit (i32.const {final_exit}))))""")


@pytest.fixture(scope="module")
def sb():
    return Sandbox()


@settings(max_examples=40, deadline=None)
@example(initial=64, step=1, steps=0, limit_pages=16, on_refused="exit", final_exit=0)      # initial over the cap
@given(initial=st.integers(1, 64), step=st.integers(1, 96), steps=st.integers(0, 6),
       limit_pages=st.integers(16, 256), on_refused=st.sampled_from(["exit", "trap"]),
       final_exit=st.sampled_from([0, 2]))
def test_memory_limit_is_named_exactly_when_a_grow_was_refused(sb, initial, step, steps, limit_pages, on_refused,
                                                               final_exit):
    limits = RunLimits(fuel=10**7, memory=limit_pages * PAGE, timeout_ms=5000)
    r = sb.run(sb.load(grower(initial, step, steps, on_refused, final_exit)), limits=limits)
    pages, refused = initial, None
    for _ in range(steps):
        if pages + step > limit_pages:
            refused = pages + step               # the request that was refused
            break
        pages += step
    if initial > limit_pages:
        assert r.reason == "memory_limit" and "initial memory" in r.message, r
        # the sandbox does not know whose limit it ran under: both places a limit is set are named
        assert "module.yaml limits.memory" in r.message and "spec.runtimeConfig.resources.memory" in r.message
    elif refused is not None and refused <= 2 * limit_pages:      # recognised: within twice the cap
        assert r.reason == "memory_limit", (r.reason, r.message, r.peak_memory)
        assert r.peak_memory <= limits.memory and r.fuel_used > 0   # the first run is the one reported
    elif refused is not None:                                     # a request beyond twice the cap: its own reason
        assert r.reason == ("exit_nonzero" if on_refused == "exit" else "trap"), (r.reason, r.message)
    elif final_exit:
        assert r.reason == "exit_nonzero" and r.exit_code == 2, (r.reason, r.message)
    else:
        assert r.reason is None and r.exit_code == 0


def test_go_like_runtime_far_below_the_cap(sb):
    # 17.2 MiB initial, asks for 4 MiB at once with 6.8 MiB left, twice: refused at 21.3 MiB of 24
    r = sb.run(sb.load(grower(275, 64, 2, "exit", 0)), limits=RunLimits(memory=24 * 2**20))
    assert r.exit_code == 2 and r.reason == "memory_limit" and r.peak_memory < 22 * 2**20, r
    assert "with room to spare the same run grew to" in r.message
