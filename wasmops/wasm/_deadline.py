"""A run's wall-clock deadline, kept in short chunks of epoch ticks by an epoch-deadline callback.

A store's epoch deadline is the only thing that can stop running wasm from outside, and only the
thread that runs the store may change it. With one deadline set at the start, a run that wrote past
its stdout cap (the ticker cuts the file back, so memory stays bounded) ran on until it ended or
timed out, holding its worker. So the deadline is set ``CHUNK_TICKS`` ahead, and when it is reached
wasmtime calls :func:`_on_deadline` on the run's own thread: it stops the run (returns an error,
which wasmtime raises from the call) if stdout passed its cap or the real deadline has come, and
otherwise moves the deadline on by one more chunk. A run shorter than one chunk never calls it.

How a run was stopped is kept on its :class:`Watch` (``stopped``): ``sandbox`` reads it to report a
timeout or a stdout overflow rather than the error wasmtime raised.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from typing import Callable

from wasmtime import _bindings as _b
from wasmtime import _ffi as ffi

from wasmops.wasm._ticker import EPOCH_TICK_MS

#: Ticks between checks: 4 x 5 ms. A run over its stdout cap stops within ~20 ms of passing it.
CHUNK_TICKS = 4
STOPPED_TIMEOUT = "timeout"
STOPPED_STDOUT = "stdout"
_CONTINUE = 0          # WASMTIME_UPDATE_DEADLINE_CONTINUE
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


class Watch:
    """One run's deadline (in ticks of ``clock``) and the stdout file whose cap stops it."""

    __slots__ = ("key", "deadline", "out", "clock", "stopped", "started_ns", "in_host_call")

    def __init__(self, key: int, deadline: int, out, clock: Callable[[], int]):
        self.key, self.deadline, self.out, self.clock = key, deadline, out, clock
        self.stopped: str | None = None
        self.started_ns = 0               # monotonic ns when its WASI context was made (sandbox._configure)
        self.in_host_call = False        # stopped while waiting in a host call: its fuel count is exact


class DeadlineReached(Exception):
    """Raised in a host call (``_poll``) that waited until the run's deadline: wasmtime turns it into
    a trap, and the run reads as a timeout from its ``Watch``."""


_RUNS: dict[int, Watch] = {}
_keys = itertools.count(1)
_local = threading.local()          # the run in progress on this thread, for host calls that wait


def current() -> Watch | None:
    """The deadline of the run in progress on this thread (None outside a run)."""
    return getattr(_local, "watch", None)


def sleep_until(watch: Watch | None, end_ns: int) -> None:
    """Wait until ``time.monotonic_ns()`` reaches ``end_ns``, or until ``watch``'s deadline: then mark the
    run timed out and raise :class:`DeadlineReached` (a host call cannot be stopped by the epoch)."""
    while True:
        left_s = None if watch is None else (watch.deadline - watch.clock()) * EPOCH_TICK_MS / 1000
        if left_s is not None and left_s <= 0:
            watch.stopped, watch.in_host_call = STOPPED_TIMEOUT, True
            raise DeadlineReached("wasmops: wall-clock deadline exceeded in a host call")
        now = time.monotonic_ns()
        if now >= end_ns:
            return
        step = (end_ns - now) / 1e9
        time.sleep(step if left_s is None else min(step, max(left_s, 0.001)))


def _error(text: bytes) -> int:
    return ctypes.cast(ffi.wasmtime_error_new(text), ctypes.c_void_p).value or 0


def _on_deadline(_ctx, data, delta, kind) -> int:
    """wasmtime's epoch-deadline callback (on the run's thread): stop the run, or give it one more chunk."""
    watch = _RUNS.get(data or 0)
    try:
        if watch is None:
            return _error(b"wasmops: a run without a deadline reached one")
        watch.out.check()
        if watch.out.overflow:
            watch.stopped = STOPPED_STDOUT
            return _error(b"wasmops: stdout passed its cap")
        left = watch.deadline - watch.clock()
        if left <= 0:
            watch.stopped = STOPPED_TIMEOUT
            return _error(b"wasmops: wall-clock deadline exceeded")
        delta[0] = min(CHUNK_TICKS, left)
        kind[0] = _CONTINUE
        return 0
    except BaseException:      # noqa: BLE001 - an exception must not cross into wasmtime: stop the run instead
        if watch is not None:
            watch.stopped = STOPPED_TIMEOUT
        return _error(b"wasmops: deadline check failed")


_CALLBACK = _b._wasmtime_store_epoch_deadline_callback.argtypes[1](_on_deadline)


def arm(store, ticks: int, out, clock: Callable[[], int]) -> Watch:
    """Give ``store`` (a ``RawStore``) a deadline ``ticks`` from now, checked every ``CHUNK_TICKS``."""
    watch = Watch(next(_keys), clock() + ticks, out, clock)
    _RUNS[watch.key] = watch
    _local.watch = watch
    ffi.wasmtime_context_set_epoch_deadline(store.ctx, min(ticks, CHUNK_TICKS))
    _b._wasmtime_store_epoch_deadline_callback(store.ptr, _CALLBACK, watch.key, _NO_FINALIZER)
    return watch


def disarm(watch: Watch | None) -> None:
    if watch is not None:
        _RUNS.pop(watch.key, None)
        if current() is watch:
            _local.watch = None
