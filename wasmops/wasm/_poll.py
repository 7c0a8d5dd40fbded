"""``poll_oneoff`` that sleeps no longer than the run's deadline.

wasmtime's deadline is an epoch check inside wasm code: a guest blocked in a host call is not
stopped by it. WASI's ``poll_oneoff`` with a clock subscription is such a call (Rust's
``thread::sleep``, C's ``nanosleep``, Go's ``time.Sleep``), so a module sleeping 5 s under a 500 ms
deadline held its thread for 5 s and a host worker for twice that (found from outside,
docs/decisions.md, "Strangers' modules, fourth round"). A module importing ``poll_oneoff`` gets this
one instead of wasmtime's (``install``; the others keep wasmtime's and pay nothing):

- every fd a run can name is a regular file or the request's bytes, always ready, so a poll with an
  fd subscription returns at once with each fd subscription ready (as wasmtime's does for files);
- a poll of clocks only sleeps until the earliest one is due, and when the run's deadline comes
  first it sleeps until the deadline and stops the run there as a timeout (``_deadline.Watch``).

The layout is WASI preview 1's: a subscription is 48 bytes (userdata u64, tag u8, then for a clock:
id u32 at 16, timeout u64 at 24, precision u64 at 32, flags u16 at 40; for an fd: fd u32 at 16), an
event 32 bytes (userdata u64, errno u16 at 8, type u8 at 10, nbytes u64 at 16, flags u16 at 24).
A monotonic clock's time is counted from the run's start (wasmtime's ``WasiCtx`` does the same), so
an absolute timeout on it is read against the run's start.
"""

from __future__ import annotations

import struct
import time

import wasmtime

from wasmops.wasm import _deadline

SUBSCRIPTION, EVENT = 48, 32
_CLOCK = 0
_ABSTIME = 1
_REALTIME = 0
_OK, _EFAULT, _EINVAL = 0, 21, 28
_TYPE = wasmtime.FuncType([wasmtime.ValType.i32()] * 4, [wasmtime.ValType.i32()])


def install(linker: wasmtime.Linker, module: wasmtime.Module) -> None:
    """Shadow WASI's ``poll_oneoff`` in ``linker`` (after ``define_wasi``) when ``module`` imports it."""
    if any(i.module == "wasi_snapshot_preview1" and i.name == "poll_oneoff" for i in module.imports):
        linker.allow_shadowing = True      # not wasi_unstable: wasmtime links none of it, and its layout differs
        linker.define_func("wasi_snapshot_preview1", "poll_oneoff", _TYPE, poll_oneoff, access_caller=True)


def poll_oneoff(caller, in_ptr: int, out_ptr: int, nsubs: int, nevents_ptr: int) -> int:
    in_ptr, out_ptr, nevents_ptr = in_ptr & 0xFFFFFFFF, out_ptr & 0xFFFFFFFF, nevents_ptr & 0xFFFFFFFF   # u32
    memory = caller.get("memory")
    if not isinstance(memory, wasmtime.Memory):
        return _EINVAL
    if nsubs <= 0:
        return _EINVAL
    size = memory.data_len(caller)
    if in_ptr + nsubs * SUBSCRIPTION > size or out_ptr + nsubs * EVENT > size or nevents_ptr + 4 > size:
        return _EFAULT                             # (memory.read would clamp, not fail)
    raw = bytes(memory.read(caller, in_ptr, in_ptr + nsubs * SUBSCRIPTION))
    subs = [raw[i * SUBSCRIPTION:(i + 1) * SUBSCRIPTION] for i in range(nsubs)]
    fds = [s for s in subs if s[8] != _CLOCK]
    fired = [(s, s[8]) for s in fds] if fds else [(s, _CLOCK) for s in _sleep([s for s in subs if s[8] == _CLOCK])]
    out = b"".join(struct.pack("<QHBxxxxxQH6x", struct.unpack_from("<Q", s)[0], _OK, kind, 0, 0)
                   for s, kind in fired)
    memory.write(caller, out, out_ptr)
    memory.write(caller, struct.pack("<I", len(fired)), nevents_ptr)
    return _OK


def _sleep(clocks: list[bytes]) -> list[bytes]:
    """Sleep until the earliest clock subscription is due (a deadline first: stop the run); the due ones."""
    now = time.monotonic_ns()
    watch = _deadline.current()
    waits = [(_wait_ns(s, now, watch), s) for s in clocks]
    wait = min(w for w, _ in waits)
    _deadline.sleep_until(watch, now + wait)
    return [s for w, s in waits if w <= wait]


def _wait_ns(sub: bytes, now: int, watch) -> int:
    clock_id, timeout, _precision, flags = struct.unpack_from("<I4xQQH", sub, 16)
    if not flags & _ABSTIME:
        return timeout
    if clock_id == _REALTIME:
        return max(0, timeout - time.time_ns())
    started = watch.started_ns if watch is not None else now
    return max(0, timeout - (now - started))      # other clocks: counted from the run's start


def forget_raised() -> None:
    """Drop the :class:`~wasmops.wasm._deadline.DeadlineReached` wasmtime-py kept when ``poll_oneoff``
    stopped a run. Its trampoline stores an exception raised in a host function in a process-wide
    ``LAST_EXCEPTION`` for its own ``Func.__call__`` to raise instead of the trap; the sandbox calls
    ``_start`` through the C API, which never reads it, so it would linger (holding the run's frames)
    and come out of the next unrelated trap in wasmtime-py's own API. Call it on the run's thread
    after the call returned."""
    from wasmtime import _func

    if isinstance(getattr(_func, "LAST_EXCEPTION", None), _deadline.DeadlineReached):
        _func.LAST_EXCEPTION = None
