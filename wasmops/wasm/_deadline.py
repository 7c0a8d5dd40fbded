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
from typing import Callable

from wasmtime import _bindings as _b
from wasmtime import _ffi as ffi

#: Ticks between checks: 4 x 5 ms. A run over its stdout cap stops within ~20 ms of passing it.
CHUNK_TICKS = 4
STOPPED_TIMEOUT = "timeout"
STOPPED_STDOUT = "stdout"
_CONTINUE = 0          # WASMTIME_UPDATE_DEADLINE_CONTINUE
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


class Watch:
    """One run's deadline (in ticks of ``clock``) and the stdout file whose cap stops it."""

    __slots__ = ("key", "deadline", "out", "clock", "stopped")

    def __init__(self, key: int, deadline: int, out, clock: Callable[[], int]):
        self.key, self.deadline, self.out, self.clock = key, deadline, out, clock
        self.stopped: str | None = None


_RUNS: dict[int, Watch] = {}
_keys = itertools.count(1)


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
    ffi.wasmtime_context_set_epoch_deadline(store.ctx, min(ticks, CHUNK_TICKS))
    _b._wasmtime_store_epoch_deadline_callback(store.ptr, _CALLBACK, watch.key, _NO_FINALIZER)
    return watch


def disarm(watch: Watch | None) -> None:
    if watch is not None:
        _RUNS.pop(watch.key, None)
