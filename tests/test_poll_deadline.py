"""A module asleep in ``poll_oneoff`` is stopped at its deadline, and billed what it ran.

Found from outside (docs/decisions.md, "Strangers' modules, fourth round"): a Rust module calling
``std::thread::sleep`` (WASI ``poll_oneoff`` with a clock subscription) for 5 s under a 500 ms
deadline ran 5 s in ``wasmops test``, and through the host it held a worker for 6 s (the inline
slice slept 3 s, then the pool ran it again), and the timed-out run was billed its whole fuel limit
(CPU time x the engine's fuel rate). wasmtime's epoch deadline cannot stop a host call.

The guests are written here in WAT: each calls ``poll_oneoff`` with subscriptions it builds, then
writes the events it got (count, then each event's 32 bytes) to stdout and exits with the errno.
"""

from __future__ import annotations

import struct
import time

import pytest
from wasmtime import wat2wasm

from wasmops.wasm.sandbox import RunLimits, Sandbox

MS = 1_000_000


def sub_clock(userdata: int, timeout_ns: int, *, clock: int = 1, abstime: bool = False) -> bytes:
    return struct.pack("<QB7xI4xQQH6x", userdata, 0, clock, timeout_ns, 0, int(abstime))


def sub_fd(userdata: int, fd: int = 0, tag: int = 1) -> bytes:
    return struct.pack("<QB7xI28x", userdata, tag, fd)


def poller(subs: bytes | None, *, now_plus_ms: int | None = None, nsubs: int | None = None) -> bytes:
    """A guest polling ``subs`` (48 bytes each) at 1024; with ``now_plus_ms``, one absolute monotonic
    clock subscription at the guest's own ``clock_time_get`` + that many ms (userdata 9) instead."""
    n = nsubs if nsubs is not None else (1 if subs is None else len(subs) // 48)
    data = "".join(f"\\{b:02x}" for b in (subs or sub_clock(9, 0, abstime=True)))
    absolute = "" if now_plus_ms is None else f"""
        (drop (call $ct (i32.const 1) (i64.const 1) (i32.const 16)))
        (i64.store (i32.const 1048) (i64.add (i64.load (i32.const 16)) (i64.const {now_plus_ms * MS})))"""
    return wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 1024) "{data}")
      (func (export "_start") (local $errno i32)
        {absolute}
        (local.set $errno (call $poll (i32.const 1024) (i32.const 4096) (i32.const {n}) (i32.const 4092)))
        (i32.store (i32.const 0) (i32.const 4092))
        (i32.store (i32.const 4) (i32.add (i32.const 4) (i32.mul (i32.load (i32.const 4092)) (i32.const 32))))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (local.get $errno))))""")


def events(stdout: bytes) -> list[tuple[int, int, int]]:
    """(userdata, errno, type) of each event the guest reported."""
    (count,) = struct.unpack_from("<I", stdout)
    return [struct.unpack_from("<QHB", stdout, 4 + 32 * i) for i in range(count)]


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def run(sb, wasm: bytes, timeout_ms: int):
    t0 = time.monotonic()
    r = sb.run(sb.load(wasm), limits=RunLimits(fuel=10**9, timeout_ms=timeout_ms, memory=1 << 20))
    return r, time.monotonic() - t0


@pytest.mark.parametrize("clock, abstime", [(1, False), (0, False)])
def test_a_sleep_past_the_deadline_ends_at_the_deadline_as_a_timeout_billed_what_it_ran(sb, clock, abstime):
    r, took = run(sb, poller(sub_clock(7, 30_000 * MS, clock=clock)), timeout_ms=200)   # asks for 30 s
    assert r.reason == "timeout", r.message
    assert took < 5, took                          # the deadline, not the 30 s (loose: a shared machine)
    assert not r.fuel_estimated and r.fuel_used < 10_000     # counted exactly: it ran a few instructions


def test_a_sleep_within_the_deadline_sleeps_and_reports_its_event(sb):
    r, took = run(sb, poller(sub_clock(7, 50 * MS)), timeout_ms=5_000)
    assert r.exit_code == 0 and r.reason is None, r.message
    assert events(r.stdout) == [(7, 0, 0)]
    assert took >= 0.05


def test_the_earliest_of_several_clocks_fires_alone(sb):
    r, _ = run(sb, poller(sub_clock(1, 60_000 * MS) + sub_clock(2, 20 * MS) + sub_clock(3, 40_000 * MS)),
               timeout_ms=5_000)
    assert r.exit_code == 0 and events(r.stdout) == [(2, 0, 0)]


def test_an_absolute_monotonic_timeout_is_read_against_the_guests_own_clock(sb):
    r, took = run(sb, poller(None, now_plus_ms=60), timeout_ms=5_000)
    assert r.exit_code == 0 and events(r.stdout) == [(9, 0, 0)], r.message
    assert 0.055 <= took < 4


def test_an_absolute_realtime_timeout_in_the_past_fires_at_once(sb):
    r, took = run(sb, poller(sub_clock(4, time.time_ns() - 1000 * MS, clock=0, abstime=True)), timeout_ms=5_000)
    assert r.exit_code == 0 and events(r.stdout) == [(4, 0, 0)] and took < 4


def test_an_fd_is_ready_at_once_beside_a_long_clock(sb):
    r, took = run(sb, poller(sub_clock(1, 60_000 * MS) + sub_fd(5, fd=0) + sub_fd(6, fd=1, tag=2)), timeout_ms=5_000)
    assert r.exit_code == 0 and events(r.stdout) == [(5, 0, 1), (6, 0, 2)]
    assert took < 4


def test_no_subscription_is_einval_and_a_bad_pointer_is_efault(sb):
    r, _ = run(sb, poller(sub_clock(1, 0), nsubs=0), timeout_ms=1_000)
    assert r.exit_code == 28
    r, _ = run(sb, poller(sub_clock(1, 0), nsubs=10_000), timeout_ms=1_000)    # runs past the memory's end
    assert r.exit_code == 21


def test_a_module_that_does_not_import_poll_oneoff_keeps_wasmtimes_linker(sb):
    from wasmops.wasm import _poll

    calls = []
    real = _poll.install

    def spy(linker, module):
        calls.append(any(i.name == "poll_oneoff" for i in module.imports))
        real(linker, module)

    wasm = wat2wasm('(module (memory (export "memory") 1) (func (export "_start")))')
    _poll.install = spy
    try:
        sb.load(wasm)
    finally:
        _poll.install = real
    assert calls == [False]


def test_wasi_unstable_is_not_given_preview1s_poll(sb):
    """Snapshot 0's subscription layout differs (56 bytes), and wasmtime defines none of ``wasi_unstable``:
    a module importing its ``poll_oneoff`` fails to link as it did."""
    from wasmops.wasm.sandbox import SandboxError

    wasm = wat2wasm("""(module
      (import "wasi_unstable" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))""")
    with pytest.raises(SandboxError, match="wasi_unstable::poll_oneoff"):
        sb.load(wasm)


def test_the_stop_leaves_no_exception_behind_in_wasmtime_py(sb):
    """wasmtime-py keeps an exception raised in a host function process-wide for its own API to raise in
    place of the next trap: the DeadlineReached that stopped a run must not come out of an unrelated one."""
    import wasmtime
    from wasmtime import _func

    r, _ = run(sb, poller(sub_clock(7, 30_000 * MS)), timeout_ms=100)
    assert r.reason == "timeout"
    assert _func.LAST_EXCEPTION is None
    store = wasmtime.Store()
    trap = wasmtime.Instance(store, wasmtime.Module(store.engine, '(module (func (export "f") unreachable))'), [])
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        trap.exports(store)["f"](store)


def test_a_sleep_stopped_at_the_inline_slice_is_preempted_and_leaves_nothing_behind(sb):
    from wasmtime import _func

    from wasmops.wasm.sandbox import Preempted

    prep = sb.load(poller(sub_clock(7, 30_000 * MS)))
    with pytest.raises(Preempted):
        sb.run(prep, limits=RunLimits(fuel=10**9, timeout_ms=2_000, memory=1 << 20), slice_ms=20)
    assert _func.LAST_EXCEPTION is None
